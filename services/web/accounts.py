"""Staff accounts, their sessions and the channels' API keys, in `console.db` under the data
directory. Passwords are Argon2id hashes (memory-hard); API keys and session tokens are random
and stored only as SHA-256 digests, so a copy of the file lets no one sign in or submit."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Role = Literal["handler", "supervisor", "auditor"]
ROLES: tuple[Role, ...] = ("handler", "supervisor", "auditor")
LANGUAGES = ("en", "zh-CN")
# A fixed hash to verify against for unknown ids, so a refusal takes as long either way.
_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("not a password of anyone")


@dataclass(frozen=True)
class Staff:
    staff_id: str
    role: Role
    team: str
    language: str


@dataclass(frozen=True)
class Session:
    staff: Staff
    csrf: str
    expires_at: datetime


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class Accounts:
    """The console's own small store. SQLite only: staff and keys are few and local to the
    web process (see README for what a PostgreSQL deployment does)."""

    def __init__(self, data_dir: Path, lockout_attempts: int = 5, lockout_minutes: int = 15) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "console.db"
        self.lockout_attempts = lockout_attempts
        self.lockout = timedelta(minutes=lockout_minutes)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS staff (staff_id TEXT PRIMARY KEY, role TEXT NOT NULL,
              team TEXT NOT NULL, language TEXT NOT NULL, password_hash TEXT NOT NULL,
              failures INTEGER NOT NULL DEFAULT 0, locked_until TEXT);
            CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, staff_id TEXT NOT NULL,
              csrf TEXT NOT NULL, expires_at TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS api_keys (key_hash TEXT PRIMARY KEY, channel TEXT NOT NULL,
              created_at TEXT NOT NULL, revoked_at TEXT);
            CREATE TABLE IF NOT EXISTS sent_commands (command_id TEXT PRIMARY KEY, case_id TEXT NOT NULL,
              actor TEXT NOT NULL, command_type TEXT NOT NULL, sent_at TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS link_requests (case_id TEXT NOT NULL, requested_at TEXT NOT NULL);
            """
        )

    def _q(self, sql: str, *params: object) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self._conn.close()

    # -- staff ---------------------------------------------------------------------------
    def add_staff(self, staff_id: str, role: Role, team: str, password: str, language: str = "en") -> Staff:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        if len(password) < 10:
            raise ValueError("the password needs at least 10 characters")
        self._q(
            "INSERT INTO staff (staff_id, role, team, language, password_hash) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (staff_id) DO UPDATE SET role = excluded.role, team = excluded.team, "
            "language = excluded.language, password_hash = excluded.password_hash, failures = 0, "
            "locked_until = NULL",
            staff_id,
            role,
            team,
            language,
            _HASHER.hash(password),
        )
        return Staff(staff_id, role, team, language)

    def staff(self, staff_id: str) -> Staff | None:
        rows = self._q("SELECT staff_id, role, team, language FROM staff WHERE staff_id = ?", staff_id)
        return Staff(*rows[0]) if rows else None

    def all_staff(self) -> list[Staff]:
        return [Staff(*r) for r in self._q("SELECT staff_id, role, team, language FROM staff ORDER BY 1")]

    def set_language(self, staff_id: str, language: str) -> None:
        if language in LANGUAGES:
            self._q("UPDATE staff SET language = ? WHERE staff_id = ?", language, staff_id)

    def authenticate(self, staff_id: str, password: str) -> tuple[Staff | None, str]:
        """(staff, "ok") or (None, why): "unknown", "locked", "wrong-password". Each failure
        counts; `lockout_attempts` in a row lock the account for `lockout_minutes`."""
        rows = self._q("SELECT password_hash, failures, locked_until FROM staff WHERE staff_id = ?", staff_id)
        if not rows:
            with contextlib.suppress(VerificationError):
                _HASHER.verify(_DUMMY, password)
            return None, "unknown"
        hashed, failures, locked_until = rows[0]
        if locked_until and datetime.fromisoformat(locked_until) > _now():
            return None, "locked"
        try:
            _HASHER.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            failures += 1
            locked = (_now() + self.lockout).isoformat() if failures >= self.lockout_attempts else None
            self._q(
                "UPDATE staff SET failures = ?, locked_until = ? WHERE staff_id = ?",
                0 if locked else failures,
                locked,
                staff_id,
            )
            return None, "locked-now" if locked else "wrong-password"
        if _HASHER.check_needs_rehash(hashed):
            self._q("UPDATE staff SET password_hash = ? WHERE staff_id = ?", _HASHER.hash(password), staff_id)
        self._q("UPDATE staff SET failures = 0, locked_until = NULL WHERE staff_id = ?", staff_id)
        return self.staff(staff_id), "ok"

    # -- sessions ------------------------------------------------------------------------
    def open_session(self, staff: Staff, minutes: int) -> str:
        token = secrets.token_urlsafe(32)
        expires = _now() + timedelta(minutes=minutes)
        self._q("DELETE FROM sessions WHERE expires_at < ?", _now().isoformat())
        self._q(
            "INSERT INTO sessions (token_hash, staff_id, csrf, expires_at) VALUES (?, ?, ?, ?)",
            digest(token),
            staff.staff_id,
            secrets.token_urlsafe(32),
            expires.isoformat(),
        )
        return token

    def session(self, token: str | None) -> Session | None:
        if not token:
            return None
        rows = self._q("SELECT staff_id, csrf, expires_at FROM sessions WHERE token_hash = ?", digest(token))
        if not rows:
            return None
        staff_id, csrf, expires = rows[0]
        expires_at = datetime.fromisoformat(expires)
        staff = self.staff(staff_id)
        if expires_at <= _now() or staff is None:
            self.close_session(token)
            return None
        return Session(staff, csrf, expires_at)

    def close_session(self, token: str) -> None:
        self._q("DELETE FROM sessions WHERE token_hash = ?", digest(token))

    # -- channels' API keys --------------------------------------------------------------
    def add_api_key(self, channel: str) -> str:
        """A new key for a channel; only its digest is kept, so it is shown once."""
        key = f"acc_{channel}_{secrets.token_urlsafe(32)}"
        self._q(
            "INSERT INTO api_keys (key_hash, channel, created_at) VALUES (?, ?, ?)",
            digest(key),
            channel,
            _now().isoformat(),
        )
        return key

    def revoke_api_keys(self, channel: str) -> int:
        before = self._q("SELECT COUNT(*) FROM api_keys WHERE channel = ? AND revoked_at IS NULL", channel)
        self._q(
            "UPDATE api_keys SET revoked_at = ? WHERE channel = ? AND revoked_at IS NULL",
            _now().isoformat(),
            channel,
        )
        return int(before[0][0])

    def channel_for(self, key: str | None) -> tuple[str, str] | None:
        """(channel, key digest) for a valid key, else None."""
        if not key:
            return None
        rows = self._q(
            "SELECT channel, key_hash FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", digest(key)
        )
        return (rows[0][0], rows[0][1]) if rows else None

    # -- what the console sent, so the case page can show each result or refusal -----------
    def record_sent(self, command_id: str, case_id: str, actor: str, command_type: str) -> None:
        self._q(
            "INSERT OR IGNORE INTO sent_commands VALUES (?, ?, ?, ?, ?)",
            command_id,
            case_id,
            actor,
            command_type,
            _now().isoformat(),
        )

    def sent(self, case_id: str, limit: int = 20) -> list[dict]:
        rows = self._q(
            "SELECT command_id, actor, command_type, sent_at FROM sent_commands WHERE case_id = ? "
            "ORDER BY sent_at DESC LIMIT ?",
            case_id,
            limit,
        )
        return [dict(zip(("command_id", "actor", "command_type", "sent_at"), r, strict=True)) for r in rows]

    def request_link(self, case_id: str) -> None:
        self._q("INSERT INTO link_requests VALUES (?, ?)", case_id, _now().isoformat())

    def link_requested(self, case_id: str) -> str | None:
        rows = self._q("SELECT MAX(requested_at) FROM link_requests WHERE case_id = ?", case_id)
        return rows[0][0] if rows and rows[0][0] else None
