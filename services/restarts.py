"""The restart ledger of `accord up`: how many instances of each step are wanted, and each
instance's restarts and back-off (1 s doubling to 60 s, from 1 s again once it ran for a minute),
kept in `<data_dir>/run/supervision.json` so that `accord status` can show them."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from services.settings import Settings


@dataclass(frozen=True)
class Backoff:
    first_s: float = 1.0
    max_s: float = 60.0
    # An instance that ran this long before it failed is not crash-looping: it starts from
    # first_s again, so one bad hour does not leave a healthy service a minute behind for good.
    stable_s: float = 60.0

    def delay(self, failures: int) -> float:
        """How long to wait before starting an instance again after `failures` failures in a row."""
        if failures <= 0:
            return 0.0
        return min(self.max_s, self.first_s * 2 ** min(failures - 1, 32))


@dataclass
class Record:
    """One instance as its supervisor knows it (times are wall-clock seconds)."""

    restarts: int = 0
    failures: int = 0  # in a row, each within `stable_s` of its start
    started_at: float | None = None  # None while it waits to be started again
    due_at: float | None = None  # when it may be started again, after a failure
    last_failure: str | None = None

    def failed(self, now: float, why: str, policy: Backoff) -> float:
        """It exited, or was stopped for not progressing: when it may start again."""
        if self.started_at is not None and now - self.started_at >= policy.stable_s:
            self.failures = 0
        self.failures += 1
        self.started_at = None
        self.due_at = now + policy.delay(self.failures)
        self.last_failure = why
        return self.due_at

    def started(self, now: float) -> None:
        if self.due_at is not None:  # after a failure: a restart
            self.restarts += 1
        self.started_at = now
        self.due_at = None


@dataclass
class Ledger:
    path: Path
    instances: dict[str, int] = field(default_factory=dict)  # service -> how many are wanted
    records: dict[str, Record] = field(default_factory=dict)  # instance name -> its record

    @classmethod
    def load(cls, settings: Settings) -> Ledger:
        path = settings.data_dir / "run" / "supervision.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return cls(
                path,
                {str(k): int(v) for k, v in data.get("instances", {}).items()},
                {str(k): Record(**v) for k, v in data.get("records", {}).items()},
            )
        except (OSError, ValueError, TypeError, AttributeError):
            return cls(path)  # none yet, or unreadable: supervision starts from nothing

    def record(self, name: str) -> Record:
        return self.records.setdefault(name, Record())

    def save(self) -> None:
        if not self.instances and not self.records:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        records = {name: asdict(record) for name, record in sorted(self.records.items())}
        data = {"instances": self.instances, "records": records}
        scratch = self.path.with_suffix(".tmp")
        scratch.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(scratch, self.path)  # whole or not at all: `accord status` may be reading it
