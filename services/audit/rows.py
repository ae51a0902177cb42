"""How a case's timeline reads: one row per event (what, when, which step, who, in response to
what, where it sits on its topic), and the rows as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from events.envelope import Envelope
from services.clients import Record


def timeline_rows(events: Iterable[tuple[Record, Envelope]]) -> list[dict[str, Any]]:
    rows = []
    for record, e in events:
        event = e.event
        details = event.model_dump(mode="json", exclude={"type", "schema_version"})
        rows.append(
            {
                "occurred_at": e.occurred_at.isoformat().replace("+00:00", "Z"),
                "step": e.step,
                "sequence": e.sequence,
                "type": event.type,
                "actor": f"{e.actor.kind}:{e.actor.id}",
                "caused_by": str(e.causation_id) if e.causation_id else None,
                "event_id": str(e.event_id),
                "position": f"{record.topic}[{record.partition}]@{record.offset}",
                "details": json.dumps(details, ensure_ascii=False, sort_keys=True)[:300],
            }
        )
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()
