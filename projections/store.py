"""Where projected views live: SQLite by default, PostgreSQL by URL. Each batch of view
changes is written together with the Kafka positions it consumed, in one transaction, so a
restart resumes exactly where the stored views stop (no event folded twice, none missed)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from projections.case_state import View
from services.runtime.database import connect

COLUMNS = (
    "status",
    "step",
    "channel",
    "category",
    "csat",
    "nps",
    "warnings",
    "breached",
    "due_at",
    "opened_at",
)


def _columns(view: View) -> tuple[Any, ...]:
    d = view["deadline"]
    return (
        view["status"],
        view["step"],
        view["channel"],
        view["category"],
        view["csat"],
        view["nps"],
        d["warnings"],
        1 if d["breached"] else 0,
        d["due_at"],
        view["opened_at"],
    )


def canonical(view: View) -> str:
    return json.dumps(view, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checksum(views: Iterable[tuple[str, View]]) -> tuple[int, str]:
    """(number of cases, SHA-256 over every view), given (case id, view) in case-id order: the
    one checksum of case views, for the live store, a rebuild and an audit bundle alike."""
    digest = hashlib.sha256()
    count = 0
    for case_id, view in views:
        digest.update(case_id.encode() + b"\0" + canonical(view).encode() + b"\n")
        count += 1
    return count, digest.hexdigest()


class ViewStore:
    """Case views keyed by case id, plus the consumed positions, under a table prefix."""

    def __init__(self, conn: Any, dialect: str, prefix: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.p = "?" if dialect == "sqlite" else "%s"
        self.prefix = prefix
        self.cases = f"{prefix}_cases"
        self.positions_table = f"{prefix}_positions"
        self.events_table = f"{prefix}_events"
        cols = ", ".join(
            f"{c} {'INTEGER' if c in ('csat', 'nps', 'warnings', 'breached') else 'TEXT'}" for c in COLUMNS
        )
        with self._tx() as cur:
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.cases} "
                f"(case_id TEXT PRIMARY KEY, {cols}, data TEXT NOT NULL)"
            )
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.positions_table} (topic TEXT, part INTEGER, "
                "next_offset BIGINT, PRIMARY KEY (topic, part))"
            )
            # Each case's events, kept so a case can be refolded in canonical order when an
            # event that sorts earlier arrives later (topics are read in no fixed interleaving).
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.events_table} (case_id TEXT, sort_key TEXT, "
                "data TEXT, PRIMARY KEY (case_id, sort_key))"
            )

    @classmethod
    def open(cls, data_dir: Path, database_url: str | None = None, prefix: str = "proj") -> ViewStore:
        conn, dialect = connect(
            database_url,
            data_dir / "projections" / "views.db",
            pragmas=("journal_mode=WAL", "synchronous=NORMAL"),
            shared=True,
        )
        return cls(conn, dialect, prefix)

    def _tx(self):
        store = self

        class Tx:
            def __enter__(self):
                self.cur = store.conn.cursor()
                if store.dialect == "sqlite":
                    self.cur.execute("BEGIN IMMEDIATE")
                return self.cur

            def __exit__(self, kind, exc, tb):
                if kind is None:
                    store.conn.commit() if store.dialect == "postgres" else self.cur.execute("COMMIT")
                else:
                    store.conn.rollback() if store.dialect == "postgres" else self.cur.execute("ROLLBACK")
                self.cur.close()
                return False

        return Tx()

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, tuple(params))
            rows = cur.fetchall()
        finally:
            cur.close()
        if self.dialect == "postgres":
            self.conn.commit()  # end the read transaction
        return rows

    def get(self, case_id: str) -> View | None:
        rows = self._read(f"SELECT data FROM {self.cases} WHERE case_id = {self.p}", [case_id])
        return json.loads(rows[0][0]) if rows else None

    def events(self, case_id: str) -> list[tuple[str, str]]:
        """The stored events of a case, (sort key, bytes as text), in canonical order."""
        return [
            (r[0], r[1])
            for r in self._read(
                f"SELECT sort_key, data FROM {self.events_table} WHERE case_id = {self.p} ORDER BY sort_key",
                [case_id],
            )
        ]

    def save(
        self,
        views: dict[str, View],
        positions: dict[tuple[str, int], int],
        events: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """The changed views, their new events and the next offsets to read, in one transaction."""
        p = self.p
        names = ", ".join(COLUMNS)
        marks = ", ".join([p] * (len(COLUMNS) + 2))
        updates = ", ".join(f"{c} = excluded.{c}" for c in (*COLUMNS, "data"))
        with self._tx() as cur:
            if views:
                cur.executemany(
                    f"INSERT INTO {self.cases} (case_id, {names}, data) VALUES ({marks}) "
                    f"ON CONFLICT (case_id) DO UPDATE SET {updates}",
                    [(case_id, *_columns(view), canonical(view)) for case_id, view in views.items()],
                )
            if events:
                cur.executemany(
                    f"INSERT INTO {self.events_table} (case_id, sort_key, data) VALUES ({p}, {p}, {p}) "
                    "ON CONFLICT (case_id, sort_key) DO NOTHING",
                    events,
                )
            if positions:
                cur.executemany(
                    f"INSERT INTO {self.positions_table} (topic, part, next_offset) "
                    f"VALUES ({p}, {p}, {p}) ON CONFLICT (topic, part) "
                    "DO UPDATE SET next_offset = excluded.next_offset",
                    [(topic, part, offset) for (topic, part), offset in positions.items()],
                )

    def adopt_events(self, other: ViewStore) -> None:
        """Take every event of another store of the same database (a rebuild's, replacing this one's)."""
        with self._tx() as cur:
            cur.execute(
                f"INSERT INTO {self.events_table} (case_id, sort_key, data) "
                f"SELECT case_id, sort_key, data FROM {other.events_table} "
                "ON CONFLICT (case_id, sort_key) DO NOTHING"
            )

    def positions(self) -> dict[tuple[str, int], int]:
        return {
            (t, int(pt)): int(o)
            for t, pt, o in self._read(f"SELECT topic, part, next_offset FROM {self.positions_table}")
        }

    def query(
        self,
        status: str | None = None,
        channel: str | None = None,
        category: str | None = None,
        limit: int = 1000,
    ) -> list[View]:
        where, params = [], []
        for column, value in (("status", status), ("channel", channel), ("category", category)):
            if value:
                where.append(f"{column} = {self.p}")
                params.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._read(
            f"SELECT data FROM {self.cases}{clause} ORDER BY opened_at, case_id LIMIT {int(limit)}", params
        )
        return [json.loads(r[0]) for r in rows]

    def all(self) -> Iterator[View]:
        for (data,) in self._read(f"SELECT data FROM {self.cases} ORDER BY case_id"):
            yield json.loads(data)

    def count(self) -> int:
        return int(self._read(f"SELECT COUNT(*) FROM {self.cases}")[0][0])

    def checksum(self) -> tuple[int, str]:
        """(number of cases, SHA-256 over every view in case-id order): equal views, equal sums."""
        return self.snapshot()[1]

    def snapshot(self) -> tuple[dict[tuple[str, int], int], tuple[int, str]]:
        """The positions and the checksum as of one moment (one read transaction), so a
        running projection can be compared with a rebuild up to exactly those positions."""
        cur = self.conn.cursor()
        try:
            if self.dialect == "sqlite":
                cur.execute("BEGIN")
            else:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute(f"SELECT topic, part, next_offset FROM {self.positions_table}")
            positions = {(t, int(pt)): int(o) for t, pt, o in cur.fetchall()}
            cur.execute(f"SELECT case_id, data FROM {self.cases} ORDER BY case_id")
            summed = checksum((case_id, json.loads(data)) for case_id, data in cur.fetchall())
        finally:
            if self.dialect == "sqlite":
                cur.execute("COMMIT")
            else:
                self.conn.commit()
            cur.close()
        return positions, summed

    def gauges(self) -> dict[str, list[tuple[Any, ...]]]:
        """Small aggregates for Prometheus: no case or customer id in any of them."""
        return {
            "by_status_step": self._read(
                f"SELECT status, step, COUNT(*) FROM {self.cases} "
                "WHERE status <> 'closed' GROUP BY status, step"
            ),
            "deadlines": self._read(f"SELECT SUM(warnings), SUM(breached) FROM {self.cases}"),
            "satisfaction": self._read(
                f"SELECT channel, AVG(csat), COUNT(csat), AVG(nps), COUNT(nps) "
                f"FROM {self.cases} WHERE csat IS NOT NULL GROUP BY channel"
            ),
        }

    def drop(self) -> None:
        with self._tx() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self.cases}")
            cur.execute(f"DROP TABLE IF EXISTS {self.positions_table}")
            cur.execute(f"DROP TABLE IF EXISTS {self.events_table}")

    def close(self) -> None:
        self.conn.close()
