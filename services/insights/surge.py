"""The surge rule: a one-day window's complaints for one (branch, product, category) against the
mean per day of the trailing days before it. Pure; the insights service keeps the windows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class SurgeRule:
    factor: float = 3.0
    min_count: int = 10
    baseline_days: int = 28

    @property
    def id(self) -> str:
        return f"surge-v1:x{self.factor:g}:min{self.min_count}:{self.baseline_days}d"

    def required(self, baseline_per_day: float) -> int:
        """The smallest count that is a surge: at least `min_count`, and more than `factor`
        times the baseline."""
        return max(self.min_count, math.floor(self.factor * baseline_per_day) + 1)

    def baseline_days_before(self, day: str) -> list[str]:
        start = date.fromisoformat(day)
        return [(start - timedelta(days=n)).isoformat() for n in range(1, self.baseline_days + 1)]

    def expired_before(self, day: str) -> str:
        """The newest day no window from `day` on uses as baseline: its window can be dropped."""
        return (date.fromisoformat(day) - timedelta(days=self.baseline_days + 1)).isoformat()

    def baseline(self, counts: dict[str, int], day: str) -> float:
        """Mean complaints per day over the trailing days (days without any count as 0)."""
        return sum(counts.get(d, 0) for d in self.baseline_days_before(day)) / self.baseline_days

    def surge(self, count: int, baseline_per_day: float) -> bool:
        return count >= self.required(baseline_per_day)
