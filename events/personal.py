"""Personal data travels apart from the facts: an envelope carries it either in the clear or
sealed with the customer's own key, so destroying that key erases it without editing history."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, StringConstraints, Tag

from events.base import Identifier, Line, Message

Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{5,24}$")]


class PersonalData(Message):
    """Names, phone and id numbers, account numbers: never logged, never a metric label."""

    form: Literal["plain"] = "plain"
    name: Line | None = None
    phone: Phone | None = None
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,190}$")] | None = None
    id_number: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z-]{4,32}$")] | None = None
    account_number: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z -]{4,40}$")] | None = None

    def __repr_args__(self):  # type: ignore[no-untyped-def]
        # Reprs end up in logs and tracebacks: show which fields are set, never their values.
        for name in type(self).model_fields:
            value = getattr(self, name)
            yield name, value if name == "form" or value is None else "***"


class SealedPersonalData(Message):
    """PersonalData encrypted with the key of `key_id` (one key per customer)."""

    form: Literal["sealed"] = "sealed"
    key_id: Identifier
    algorithm: Literal["AES-256-GCM"] = "AES-256-GCM"
    nonce: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16}$")]
    ciphertext: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$", max_length=8192)]


def _form(value: Any) -> str:
    form = value.get("form", "plain") if isinstance(value, dict) else getattr(value, "form", "plain")
    return form if form in ("plain", "sealed") else "plain"


# Discriminated by `form`; a channel may leave `form` out of plain data.
AnyPersonal = Annotated[
    Annotated[PersonalData, Tag("plain")] | Annotated[SealedPersonalData, Tag("sealed")],
    Discriminator(_form),
]


FIELDS = ("name", "phone", "email", "id_number", "account_number")


def has_personal(personal: PersonalData | SealedPersonalData | None) -> bool:
    """Whether there is anything to keep: sealed data always counts, plain data if any field is set."""
    if personal is None:
        return False
    return isinstance(personal, SealedPersonalData) or any(getattr(personal, f) for f in FIELDS)
