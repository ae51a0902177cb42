"""The projection service on the real broker: case views, the CLI and HTTP API over them,
Prometheus gauges, and a rebuild from offset 0 equal to the live views — also after the
projection service was killed mid-stream."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request

from projections import rebuild
from projections.store import ViewStore
from services import cli, processes
from tests.integration.test_workflow import complaint, submit


def _wait_for_view(settings, case: str, status: str, timeout_s: float = 60, due: bool = True) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        store = ViewStore.open(settings.data_dir, settings.database_url)
        try:
            view = store.get(case)
        finally:
            store.close()
        if view and view["status"] == status and (not due or view["deadline"]["due_at"]):
            return view
        time.sleep(0.3)
    raise AssertionError(f"case {case} never reached {status}")


def _get(settings, path: str) -> object:
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.api_port}{path}", timeout=10) as reply:
        return json.loads(reply.read())


def test_a_new_case_appears_in_the_views_the_cli_and_the_api(running, live_producer, watcher, capsys) -> None:
    case = submit(live_producer, complaint("proj1", "branch", staff_id="H-007", branch_id="BR-7"))
    watcher.wait(case, "CaseAssigned")
    view = _wait_for_view(running, case, "assigned")
    assert view["handler"] == "H-007" and view["channel"] == "branch"
    assert view["deadline"]["due_at"] is not None

    os.environ["ACCORD_DATA_DIR"] = str(running.data_dir)
    try:
        assert cli.main(["case", "show", case]) == 0
        assert cli.main(["cases", "--channel", "branch", "--json"]) == 0
        assert cli.main(["report", "--by", "overall,channel,branch"]) == 0
    finally:
        del os.environ["ACCORD_DATA_DIR"]
    out = capsys.readouterr().out
    assert f"case {case}" in out and "H-007" in out and "BR-7" in out

    assert _get(running, f"/cases/{case}")["handler"] == "H-007"  # type: ignore[index]
    listed = _get(running, "/cases?channel=branch&limit=1000")
    assert case in [c["case_id"] for c in listed]  # type: ignore[union-attr, index]
    figures = _get(running, "/report?by=overall,channel")
    assert figures["overall"]["all"]["cases"] >= 1  # type: ignore[index]


def test_a_rebuild_from_offset_zero_equals_the_live_views_even_after_a_kill(
    running, live_producer, watcher
) -> None:
    pid = processes.running(running, "projections")
    assert pid
    cases = [submit(live_producer, complaint(f"rb{n}", "app")) for n in range(30)]
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)  # the projection dies mid-stream
    time.sleep(0.5)
    processes.start(running, "projections")
    for case in cases:
        watcher.wait(case, "DeadlineStarted")
        _wait_for_view(running, case, "assigned")
    time.sleep(2)  # let the live views settle on the latest events
    assert rebuild.rebuild(running, log=lambda _: None)
