"""Regulatory deadline tables. China (《银行业保险业消费投诉处理管理办法》 2020) by default:
a decision within 15 days; complex cases extendable to 30 days, especially complex ones a
further 30 days with higher-level approval. UK FCA and US CFPB tables are alternatives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Table:
    name: str
    decision_days: int  # the base limit for a decision (final response)
    complex_days: int  # total limit once extended for a complex case
    especially_complex_extra_days: int  # a further extension, approved by a higher level
    warn_at: tuple[int, ...] = (75, 90)  # percent of the time used


TABLES = {
    "CN-2020": Table("CN-2020", decision_days=15, complex_days=30, especially_complex_extra_days=30),
    # FCA DISP 1.6: final response within 8 weeks; no extension regime.
    "UK-FCA": Table("UK-FCA", decision_days=56, complex_days=56, especially_complex_extra_days=0),
    # CFPB: response within 15 days, final within 60 days.
    "US-CFPB": Table("US-CFPB", decision_days=15, complex_days=60, especially_complex_extra_days=0),
}


def table(name: str) -> Table:
    return TABLES[name]


def decision_due(policy: str, started_at: datetime) -> datetime:
    return started_at + timedelta(days=table(policy).decision_days)


def extended_due(policy: str, started_at: datetime, tier: str, current_due: datetime) -> datetime | None:
    """The new due time for an extension tier, or None when the table allows no such extension."""
    t = table(policy)
    if tier == "complex":
        new = started_at + timedelta(days=t.complex_days)
    else:
        if t.especially_complex_extra_days == 0:
            return None
        new = started_at + timedelta(days=t.complex_days + t.especially_complex_extra_days)
    return new if new > current_due else None
