"""The one reading of ACCORD_DATABASE_URL, for every store (steps, views, keys): PostgreSQL
at `postgresql://user:password@host:port/db[?schema=name]`, or SQLite files in the data
directory when it is unset. A schema keeps several Accord installations in one database."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse


@dataclass(frozen=True)
class Database:
    """A PostgreSQL database (and schema) that stores are kept in."""

    url: str  # without the query: what psycopg connects to
    host: str
    port: int
    dbname: str
    user: str
    password: str
    schema: str  # "" for the user's default

    @classmethod
    def parse(cls, database_url: str | None) -> Database | None:
        """None for SQLite (no URL); a ValueError that never repeats the URL (it holds a password)."""
        if not database_url:
            return None
        if not database_url.startswith(("postgresql://", "postgres://")):
            raise ValueError("ACCORD_DATABASE_URL must start with postgresql:// (or be unset for SQLite)")
        parsed = urlparse(database_url)
        schema = parse_qs(parsed.query).get("schema", [""])[0]
        if schema and not schema.replace("_", "a").isalnum():
            raise ValueError("ACCORD_DATABASE_URL: ?schema= takes letters, digits and underscores only")
        return cls(
            url=database_url.split("?", 1)[0],
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            dbname=parsed.path.lstrip("/") or "accord",
            user=unquote(parsed.username or "accord"),
            password=unquote(parsed.password or ""),
            schema=schema,
        )

    def connect(self, *, autocommit: bool = False) -> Any:
        """A psycopg connection whose unqualified table names live in the schema (created if new)."""
        import psycopg

        if self.schema:
            self.ensure_schema()
            return psycopg.connect(self.url, autocommit=autocommit, options=f"-c search_path={self.schema}")
        return psycopg.connect(self.url, autocommit=autocommit)

    def ensure_schema(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))


def connect(
    database_url: str | None,
    sqlite_path: Path,
    *,
    autocommit: bool = False,
    pragmas: Sequence[str] = (),
    shared: bool = False,
) -> tuple[Any, str]:
    """The one way a store opens its database: a connection and its dialect ("postgres" or
    "sqlite"). PostgreSQL when ACCORD_DATABASE_URL is set (its schema on the search path);
    otherwise the SQLite file `sqlite_path` (its folder made), in autocommit mode (a store
    begins its own transactions), waiting up to 30 s for a lock, with the store's `pragmas`;
    `shared`: usable from other threads than the one that opened it."""
    database = Database.parse(database_url)
    if database is not None:
        return database.connect(autocommit=autocommit), "postgres"
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(sqlite_path, timeout=30, isolation_level=None, check_same_thread=not shared)
    for pragma in pragmas:
        conn.execute(f"PRAGMA {pragma}")
    return conn, "sqlite"
