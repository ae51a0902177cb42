"""The key store: one key per customer and the register of who was forgotten, in SQLite
(`keys.db` in the data directory) or the PostgreSQL database of ACCORD_DATABASE_URL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from events.personal import PersonalData, SealedPersonalData, has_personal
from events.submission import ComplaintSubmission
from services.privacy.cipher import new_secret, seal_with, unseal_with
from services.privacy.redaction import redact
from services.runtime.database import Database, connect
from services.settings import Settings


@dataclass(frozen=True)
class Forgotten:
    customer_id: str
    at: datetime
    keys: int  # keys destroyed by this request (0 when forgotten before)
    reason: str
    first: bool  # False when the customer had been forgotten already


class KeyStore:
    """One key per customer. Every statement commits on its own (autocommit) on one connection
    per process, so every step, channel and CLI process can share the store; no key is cached,
    so a forget takes effect at once everywhere."""

    def __init__(self, settings: Settings) -> None:
        database = Database.parse(settings.database_url)
        self.url = database.url if database else None
        if database is not None:
            # The schema is on the connection's search path (and created if new).
            self.table, self.register, self.mark = "accord_customer_keys", "accord_forgotten", "%s"
        else:
            self.table, self.register, self.mark = "customer_keys", "forgotten", "?"
        # Deleted keys are overwritten on disk, not merely unlinked from the b-tree; the
        # rollback journal (not WAL) leaves no older copy of a page behind after commit.
        self._connect: Any = lambda: connect(
            settings.database_url,
            settings.data_dir / "keys.db",
            autocommit=True,
            pragmas=("secure_delete=ON", "journal_mode=DELETE"),
        )[0]
        self._conn: Any = None
        self._execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (key_id TEXT PRIMARY KEY, "
            f"customer_id TEXT NOT NULL UNIQUE, secret {'BYTEA' if self.url else 'BLOB'} NOT NULL, "
            "created_at TEXT NOT NULL)"
        )
        self._execute(
            f"CREATE TABLE IF NOT EXISTS {self.register} (customer_id TEXT PRIMARY KEY, "
            "forgotten_at TEXT NOT NULL, keys INTEGER NOT NULL, reason TEXT NOT NULL)"
        )

    def _execute(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            try:
                cursor = self._conn.execute(sql.replace("?", self.mark), params)
                return list(cursor.fetchall()) if cursor.description else []
            except Exception as exc:
                # A dropped connection (database restarted) is opened again, once.
                if attempt == 2 or not _connection_lost(exc, self._conn):
                    raise
                self.close()
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- keys ---------------------------------------------------------------------------------
    def key_for(self, customer_id: str) -> tuple[str, bytes]:
        """The customer's key, made on first use (also after a forget: a new relationship)."""
        found = self._execute(f"SELECT key_id, secret FROM {self.table} WHERE customer_id = ?", customer_id)
        if found:
            return str(found[0][0]), bytes(found[0][1])
        self._execute(
            f"INSERT INTO {self.table} (key_id, customer_id, secret, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (customer_id) DO NOTHING",
            "K" + uuid.uuid4().hex,
            customer_id,
            new_secret(),
            datetime.now(UTC).isoformat(),
        )
        found = self._execute(f"SELECT key_id, secret FROM {self.table} WHERE customer_id = ?", customer_id)
        return str(found[0][0]), bytes(found[0][1])

    def secret(self, key_id: str) -> bytes | None:
        found = self._execute(f"SELECT secret FROM {self.table} WHERE key_id = ?", key_id)
        return bytes(found[0][0]) if found else None

    def forget(self, customer_id: str, reason: str = "erasure request") -> Forgotten:
        """Destroy the customer's keys and note when (the register holds no personal data)."""
        now = datetime.now(UTC)
        before = self._execute(
            f"SELECT forgotten_at, keys, reason FROM {self.register} WHERE customer_id = ?", customer_id
        )
        keys = self._execute(f"SELECT key_id FROM {self.table} WHERE customer_id = ?", customer_id)
        self._execute(f"DELETE FROM {self.table} WHERE customer_id = ?", customer_id)
        if self.url:  # PostgreSQL keeps dead row versions until a vacuum reclaims them
            self._execute(f"VACUUM {self.table}")
        if before and not keys:
            at = datetime.fromisoformat(str(before[0][0]))
            return Forgotten(customer_id, at, 0, str(before[0][2]), first=False)
        if before:
            self._execute(f"DELETE FROM {self.register} WHERE customer_id = ?", customer_id)
        self._execute(
            f"INSERT INTO {self.register} (customer_id, forgotten_at, keys, reason) VALUES (?, ?, ?, ?)",
            customer_id,
            now.isoformat(),
            len(keys),
            reason,
        )
        return Forgotten(customer_id, now, len(keys), reason, first=not before)

    def forgotten(self, customer_id: str) -> datetime | None:
        found = self._execute(f"SELECT forgotten_at FROM {self.register} WHERE customer_id = ?", customer_id)
        return datetime.fromisoformat(str(found[0][0])) if found else None

    # -- sealing ------------------------------------------------------------------------------
    def seal(self, customer_id: str, personal: PersonalData) -> SealedPersonalData:
        key_id, secret = self.key_for(customer_id)
        return seal_with(key_id, secret, personal)

    def unseal(self, sealed: SealedPersonalData) -> PersonalData:
        """The personal data, or Erased when its key was destroyed. A modified ciphertext
        fails GCM's authentication and raises ValueError."""
        return unseal_with(self.secret(sealed.key_id), sealed)

    def seal_submission(self, submission: ComplaintSubmission) -> ComplaintSubmission:
        """What a channel publishes: personal data sealed, and the customer's own identifiers
        redacted from the free text (subject, description) so they exist only sealed."""
        customer = submission.customer
        if not isinstance(customer, PersonalData) or not has_personal(customer):
            return submission
        return submission.model_copy(
            update={
                "customer": self.seal(submission.customer_id, customer),
                "subject": redact(submission.subject, customer),
                "description": redact(submission.description, customer),
            }
        )


def _connection_lost(exc: Exception, conn: Any) -> bool:
    lost = type(exc).__name__ in ("OperationalError", "InterfaceError")
    return lost or bool(getattr(conn, "closed", False))
