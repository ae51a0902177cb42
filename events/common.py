"""Events any step may emit onto its own topic."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from events.base import Identifier, Line, Message


class CommandRejected(Message):
    """A command did not fit the case (unknown case, closed case, a plan never offered...);
    nothing else changed. `reason` says why in words a person can act on."""

    type: Literal["CommandRejected"] = "CommandRejected"
    schema_version: Literal[1] = 1
    command_id: UUID
    command_type: Identifier
    reason: Line


EVENTS = (CommandRejected,)
