"""Erasure by key destruction ("crypto-shredding"): every customer's personal data is sealed
with AES-256-GCM under a key of that customer's own, kept in one key store (SQLite beside the
steps' stores, or the PostgreSQL database they use). Forgetting a customer destroys the key;
the history keeps its ciphertext, hashes and order, so replays and `verify` are unchanged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.codec import DecodeError, decode
from events.envelope import Envelope
from events.personal import FIELDS, PersonalData, SealedPersonalData, has_personal
from events.submission import ComplaintSubmission
from events.topics import STEP_TOPICS
from services import clients
from services.runtime.database import Database
from services.settings import Settings

REDACTED = "XXXX"  # as the CFPB redacts narratives


class Erased(Exception):
    """The key that sealed this personal data was destroyed: it can never be read again."""


@dataclass(frozen=True)
class Forgotten:
    customer_id: str
    at: datetime
    keys: int  # keys destroyed by this request (0 when forgotten before)
    reason: str
    first: bool  # False when the customer had been forgotten already


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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
            self._connect: Any = lambda: database.connect(autocommit=True)
        else:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.path = settings.data_dir / "keys.db"
            self.table, self.register, self.mark = "customer_keys", "forgotten", "?"
            self._connect = self._sqlite
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

    def _sqlite(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        # Deleted keys are overwritten on disk, not merely unlinked from the b-tree; the
        # rollback journal (not WAL) leaves no older copy of a page behind after commit.
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA journal_mode=DELETE")
        return conn

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
            AESGCM.generate_key(bit_length=256),
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
        plain = personal.model_dump_json(exclude_none=True).encode()
        # A synthetic nonce (as in SIV): derived from the key and the plaintext, so the same data
        # sealed again gives the same bytes (a replayed decision repeats its event exactly) and
        # a nonce never repeats for different data under one key.
        nonce = hmac.new(secret, b"accord-nonce|" + plain, hashlib.sha256).digest()[:12]
        sealed = AESGCM(secret).encrypt(nonce, plain, key_id.encode())
        return SealedPersonalData(key_id=key_id, nonce=_b64(nonce), ciphertext=_b64(sealed))

    def unseal(self, sealed: SealedPersonalData) -> PersonalData:
        """The personal data, or Erased when its key was destroyed. A modified ciphertext
        fails GCM's authentication and raises ValueError."""
        secret = self.secret(sealed.key_id)
        if secret is None:
            raise Erased(sealed.key_id)
        try:
            plain = AESGCM(secret).decrypt(
                _unb64(sealed.nonce), _unb64(sealed.ciphertext), sealed.key_id.encode()
            )
        except InvalidTag as exc:
            raise ValueError(f"sealed personal data under key {sealed.key_id} was modified") from exc
        return PersonalData.model_validate_json(plain)

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


def redact(text: str, personal: PersonalData) -> str:
    """Replace the customer's own identifiers in free text (longest first) with XXXX."""
    values = sorted((str(getattr(personal, f)) for f in FIELDS if getattr(personal, f)), key=len)
    for value in reversed(values):
        text = text.replace(value, REDACTED)
    return text


def held(settings: Settings, customer_id: str) -> list[dict[str, Any]]:
    """What Accord holds of a customer's personal data, case by case, read from the intake
    topic (where every case's personal data is registered) and opened with the key if it
    still exists: the answer to a subject-access request, or the proof of an erasure."""
    keys = KeyStore(settings)
    out = []
    for record in clients.read_to_end(settings, [STEP_TOPICS["intake"].name]):
        try:
            envelope = decode(Envelope, record.value)
        except DecodeError:
            continue  # `accord audit verify` reports what is not a valid event
        if envelope.customer_id != customer_id or not has_personal(envelope.personal):
            continue
        row: dict[str, Any] = {"case_id": envelope.case_id, "registered_at": envelope.occurred_at}
        sealed = envelope.personal
        if isinstance(sealed, SealedPersonalData):
            row["key_id"] = sealed.key_id
            try:
                row["personal"] = keys.unseal(sealed).model_dump(exclude_none=True, exclude={"form"})
            except Erased:
                row["personal"] = None
        else:  # written before sealing existed: plaintext that a forget cannot reach
            row["personal"] = sealed.model_dump(exclude_none=True, exclude={"form"}) if sealed else None
            row["plaintext"] = True
        out.append(row)
    return out
