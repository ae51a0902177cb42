"""A customer's own identifiers taken out of free text, so they exist only sealed."""

from __future__ import annotations

from events.personal import FIELDS, PersonalData

REDACTED = "XXXX"  # as the CFPB redacts narratives


def redact(text: str, personal: PersonalData) -> str:
    """Replace the customer's own identifiers in free text (longest first) with XXXX."""
    values = sorted((str(getattr(personal, f)) for f in FIELDS if getattr(personal, f)), key=len)
    for value in reversed(values):
        text = text.replace(value, REDACTED)
    return text
