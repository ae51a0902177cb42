"""Erasure by key destruction ("crypto-shredding"): every customer's personal data is sealed
with AES-256-GCM under a key of that customer's own, kept in one key store (SQLite beside the
steps' stores, or the PostgreSQL database they use). Forgetting a customer destroys the key;
the history keeps its ciphertext, hashes and order, so replays and `verify` are unchanged.

`keys.py` keeps the keys and the erasure register, `cipher.py` seals and opens, `redaction.py`
takes a customer's identifiers out of free text, `held.py` answers a subject-access request."""

from services.privacy.cipher import Erased
from services.privacy.held import held
from services.privacy.keys import Forgotten, KeyStore
from services.privacy.redaction import REDACTED, redact

__all__ = ["REDACTED", "Erased", "Forgotten", "KeyStore", "held", "redact"]
