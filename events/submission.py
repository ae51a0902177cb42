"""The complaint a channel (hotline, branch, mobile app) publishes to `complaints.submitted`,
keyed by the channel's own submission id."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from events.base import Channel, ContactMethod, Identifier, Line, Message, Money, PastDatetime, Text
from events.personal import AnyPersonal, PersonalData

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


class ContactWindow(Message):
    """When the customer wants to be contacted, in their local time (HH:MM, 24h)."""

    days: list[Weekday] = Field(default_factory=lambda: list(WORKDAYS), min_length=1, max_length=7)
    start: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "09:00"
    end: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "18:00"
    timezone: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]+(/[A-Za-z_+-]+)*$")] = "Asia/Shanghai"


class ContactPreference(Message):
    """How and when the customer wants to be contacted; the customer may change it later."""

    method: ContactMethod
    window: ContactWindow | None = None


class ComplaintSubmission(Message):
    """A complaint as a channel received it. `description` is free text in any language."""

    schema_version: Literal[1] = 1
    submission_id: Identifier
    channel: Channel
    submitted_at: PastDatetime
    customer_id: Identifier
    # Channels seal it with the customer's key before publishing (`services/privacy.py`).
    customer: AnyPersonal = PersonalData()
    product: Line | None = None
    subject: Line
    description: Text
    amount_disputed: Money | None = None
    branch_id: Identifier | None = None
    staff_id: Identifier | None = None  # who took it at a branch or on the hotline
    preferred_contact: ContactPreference | None = None
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Za-z]{2,4})?$")] = "zh-CN"
