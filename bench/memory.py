"""A step's resident memory as closed cases pile up: the intake runner with its real SQLite
store, fed N submissions directly (no broker, so only the step itself is measured), its RSS
read from /proc after 10,000 and after 100,000 cases."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from events.topics import SUBMITTED
from services import bootstrap
from services.settings import Settings


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(checkpoints: list[int]) -> dict[str, float]:
    settings = Settings.from_env({}).model_copy(
        update={"data_dir": Path(tempfile.mkdtemp(prefix="accord-mem-"))}
    )
    runner = bootstrap.processor("intake", settings)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out: dict[str, float] = {"rss_mib_at_start": round(rss_mib(), 1)}
    began = time.perf_counter()
    for n in range(1, max(checkpoints) + 1):
        body = {
            "submission_id": f"M-{n}",
            "channel": "app",
            "customer_id": f"MC-{n}",
            "submitted_at": (start + timedelta(seconds=n)).isoformat(),
            "subject": "Fee charged twice",
            "description": "memory benchmark",
            "product": "Account fee",
        }
        runner.handle(SUBMITTED.name, 0, n, body["submission_id"].encode(), json.dumps(body).encode())
        if n in checkpoints:
            out[f"rss_mib_after_{n}"] = round(rss_mib(), 1)
            out[f"cases_per_second_to_{n}"] = round(n / (time.perf_counter() - began), 1)
            sys.stderr.write(f"  {n} cases: RSS {out[f'rss_mib_after_{n}']} MiB\n")
    return out


if __name__ == "__main__":
    points = [int(x) for x in (sys.argv[1:] or ["10000", "100000"])]
    print(json.dumps(run(points)))
