"""`accord projections rebuild`: replay every step topic from offset 0 into a scratch store,
up to exactly the positions the live store has reached, and compare the two by checksum."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from kafka import TopicPartition

from projections.projector import Projector
from projections.store import ViewStore
from services.settings import Settings


def _bar(done: int, total: int, started: float) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    rate = done / max(time.monotonic() - started, 1e-9)
    sys.stderr.write(
        f"\r  replaying [{'#' * filled}{'.' * (width - filled)}] {done}/{total} events ({rate:,.0f}/s)"
    )
    sys.stderr.flush()


def rebuild(settings: Settings, *, replace: bool = False, log: Callable[[str], None] = print) -> bool:
    live = ViewStore.open(settings.data_dir, settings.database_url)
    scratch = ViewStore.open(settings.data_dir, settings.database_url, prefix="rebuild")
    scratch.drop()
    scratch = ViewStore.open(settings.data_dir, settings.database_url, prefix="rebuild")
    try:
        projector = Projector(settings, scratch, client_id="accord-rebuild", audit=True)
        positions, live_sum = live.snapshot()  # the live views as of one moment
        until = {tp: positions.get((tp.topic, tp.partition), 0) for tp in projector.parts}
        if not any(until.values()):  # no live views yet: rebuild to the end of the topics
            until = projector.reader.ends()
        total = sum(until.values())
        log(f"rebuilding the case views from offset 0: {total} records on {len(until)} partitions")
        started = time.monotonic()
        projector.replay(
            until,
            lambda done: _bar(min(done, total), total, started),
            keep_events=replace,
        )
        scratch = projector.store  # the same store, unless the replay had to start it again
        elapsed = time.monotonic() - started
        sys.stderr.write("\n")
        projector.close()
        rebuilt = scratch.checksum()
        log(
            f"replayed {projector.applied} events in {elapsed:.1f}s "
            f"({projector.applied / max(elapsed, 1e-9):,.0f} events/s)"
        )
        log(f"  rebuilt: {rebuilt[0]} cases, checksum {rebuilt[1]}")
        log(f"  live:    {live_sum[0]} cases, checksum {live_sum[1]}")
        same = rebuilt == live_sum
        log("  identical" if same else "  DIFFERENT: the live views do not equal a replay of the history")
        if not same and live.positions() == positions:
            _explain(live, scratch, log)  # the live views have not moved on: show what differs
        if replace:
            _replace(live, scratch, until)
            log("  the rebuilt views are now the live ones")
        return same or replace
    finally:
        live.close()
        scratch.close()


def _explain(live: ViewStore, scratch: ViewStore, log: Callable[[str], None], limit: int = 10) -> None:
    a = {v["case_id"]: v for v in live.all()}
    b = {v["case_id"]: v for v in scratch.all()}
    shown = 0
    for case_id in sorted(set(a) | set(b)):
        if a.get(case_id) != b.get(case_id) and shown < limit:
            fields = sorted(
                k
                for k in set(a.get(case_id, {})) | set(b.get(case_id, {}))
                if a.get(case_id, {}).get(k) != b.get(case_id, {}).get(k)
            )
            log(f"  case {case_id}: differs in {', '.join(fields) or 'presence'}")
            shown += 1


def _replace(live: ViewStore, scratch: ViewStore, until: dict[TopicPartition, int]) -> None:
    views = {v["case_id"]: v for v in scratch.all()}
    live.drop()
    fresh = ViewStore(live.conn, live.dialect, "proj")
    fresh.save(views, {(tp.topic, tp.partition): off for tp, off in until.items()})
    fresh.adopt_events(scratch)  # what the projection refolds a case from when an earlier event turns up
