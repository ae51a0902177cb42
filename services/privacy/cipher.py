"""Sealing and opening personal data: AES-256-GCM under the customer's key, with the key id as
associated data and a synthetic nonce. The format of `SealedPersonalData` on the topics."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.personal import PersonalData, SealedPersonalData


class Erased(Exception):
    """The key that sealed this personal data was destroyed: it can never be read again."""


def new_secret() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal_with(key_id: str, secret: bytes, personal: PersonalData) -> SealedPersonalData:
    plain = personal.model_dump_json(exclude_none=True).encode()
    # A synthetic nonce (as in SIV): derived from the key and the plaintext, so the same data
    # sealed again gives the same bytes (a replayed decision repeats its event exactly) and
    # a nonce never repeats for different data under one key.
    nonce = hmac.new(secret, b"accord-nonce|" + plain, hashlib.sha256).digest()[:12]
    sealed = AESGCM(secret).encrypt(nonce, plain, key_id.encode())
    return SealedPersonalData(key_id=key_id, nonce=_b64(nonce), ciphertext=_b64(sealed))


def unseal_with(secret: bytes | None, sealed: SealedPersonalData) -> PersonalData:
    """The personal data, or Erased when its key (`secret`) was destroyed. A modified
    ciphertext fails GCM's authentication and raises ValueError."""
    if secret is None:
        raise Erased(sealed.key_id)
    try:
        plain = AESGCM(secret).decrypt(
            _unb64(sealed.nonce), _unb64(sealed.ciphertext), sealed.key_id.encode()
        )
    except InvalidTag as exc:
        raise ValueError(f"sealed personal data under key {sealed.key_id} was modified") from exc
    return PersonalData.model_validate_json(plain)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
