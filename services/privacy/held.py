"""A subject-access request: what Accord holds of a customer's personal data, case by case,
read from the intake topic as the audit principal and opened with the customer's key."""

from __future__ import annotations

from typing import Any

from events.codec import DecodeError, decode
from events.envelope import Envelope
from events.personal import SealedPersonalData, has_personal
from events.topics import STEP_TOPICS
from services import clients
from services.privacy.cipher import Erased
from services.privacy.keys import KeyStore
from services.settings import Settings


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
