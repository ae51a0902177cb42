"""The rules a step core decides with: the bank's policy settings and nothing else (no
connection details, no passwords). The runtime builds it once from the settings object."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from events.base import Policy


class Rules(BaseModel):
    model_config = ConfigDict(frozen=True)

    policy: Policy = "CN-2020"  # regulatory deadline table
    first_contact_hours: int = Field(default=24, ge=1)
    handler_rota: tuple[tuple[str, str], ...] = (("H-001", "retail"),)  # (handler id, team)
    approval_limit: Decimal = Field(default=Decimal("10000"), ge=0)
    max_rounds: int = Field(default=3, ge=1, le=20)
    reopen_days: int = Field(default=14, ge=0)
    awaiting_customer_counts: bool = True
    default_tolerance_missed: int = Field(default=2, ge=1)
