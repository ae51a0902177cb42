"""The customer's link: a token for one case, signed with HMAC-SHA-256 under a key kept in the
data directory (created on first use), that expires. It carries the case id and the expiry only
— nothing personal — so it can travel in a text message or an e-mail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path


class TokenError(ValueError):
    """A token that is malformed, altered or expired; `reason` is one of those words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_key(data_dir: Path) -> bytes:
    """The link key: 32 random bytes in `link.key` (mode 600), made on first use."""
    path = data_dir / "link.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    return path.read_bytes()


class Links:
    def __init__(self, key: bytes, days: int = 30) -> None:
        self.key = key
        self.days = days

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.key, payload.encode(), hashlib.sha256).digest())

    def issue(self, case_id: str, now: datetime | None = None, days: float | None = None) -> str:
        expires = (now or datetime.now(UTC)) + timedelta(days=self.days if days is None else days)
        payload = f"{case_id}.{int(expires.timestamp())}"
        return f"{payload}.{self._sign(payload)}"

    def check(self, token: str, now: datetime | None = None) -> tuple[str, datetime]:
        """(case id, expiry) of a valid token; TokenError otherwise."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[0] or not parts[1].isdigit():
            raise TokenError("malformed")
        payload = f"{parts[0]}.{parts[1]}"
        # Compared as text: base64's last character carries unused bits, so comparing decoded
        # bytes would let a few spellings of one signature through.
        if not hmac.compare_digest(parts[2].encode(), self._sign(payload).encode()):
            raise TokenError("altered")
        expires = datetime.fromtimestamp(int(parts[1]), UTC)
        if expires <= (now or datetime.now(UTC)):
            raise TokenError("expired")
        return parts[0], expires

    def case_of_expired(self, token: str) -> str | None:
        """The case of a genuine token, expired or not (to ask for a new link); None if forged."""
        try:
            self.check(token, now=datetime.fromtimestamp(0, UTC))
        except TokenError:
            return None
        return token.split(".")[0]

    def csrf_for(self, token: str) -> str:
        """The customer's forms carry this: bound to the link, useless without it."""
        return self._sign(f"csrf|{token}")
