"""`accord up --instances 2 --watch` for one step, on the real broker: two processes of intake,
each its own instance; SIGKILL one and the watcher starts it again after its back-off, with its
identity, and `accord status --json` lists both with the restart counted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from services import processes, topics
from services.settings import Settings
from tests.integration.conftest import free_ports
from tests.integration.test_outage import own_broker  # noqa: F401


def until(what: Callable[[], object], timeout_s: float, message: str) -> object:
    deadline = time.monotonic() + timeout_s
    while not (result := what()):
        assert time.monotonic() < deadline, message
        time.sleep(0.2)
    return result


@pytest.fixture
def watched(own_broker: Settings) -> Iterator[tuple[Settings, list[str]]]:  # noqa: F811
    """Intake's two instances under a watcher that looks every second, as `accord up
    --instances intake=2 --watch 1` runs them; everything it started is stopped afterwards.
    On a broker of its own: on the suite's, they would join the group of the suite's running
    intake (as `accord-intake-0`, fencing it) and share out its partitions."""
    topics.create(own_broker)
    local = own_broker.model_copy(update={"metrics_port": free_ports(110, start=25400)})
    heard: list[str] = []
    stop = threading.Event()
    watcher = threading.Thread(
        target=processes.watch,
        args=(
            local,
            ("intake",),
            {"intake": 2},
            1.0,
            lambda name, pid, action: heard.append(f"{name} {action}"),
            stop,
        ),
        daemon=True,
    )
    watcher.start()
    try:
        yield local, heard
    finally:
        stop.set()
        watcher.join(timeout=30)
        processes.down(local, ("intake",))


def status(local: Settings) -> dict:
    env = {
        **os.environ,
        "ACCORD_DATA_DIR": str(local.data_dir),
        "ACCORD_METRICS_PORT": str(local.metrics_port),
    }
    out = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "services.cli", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {row["name"]: row for row in json.loads(out)["instances"]}


def test_a_killed_instance_is_restarted_by_the_watcher_and_status_lists_both(
    watched: tuple[Settings, list[str]],
) -> None:
    local, heard = watched
    for k in (0, 1):  # both answer /health on their own ports
        until(lambda k=k: processes.health(local, "intake", 1, k), 40, f"intake-{k} never answered /health")
    first = {k: processes.running(local, "intake", k) for k in (0, 1)}
    assert first[0] and first[1] and first[0] != first[1]

    os.kill(first[1], signal.SIGKILL)  # type: ignore[arg-type]
    restarted = lambda: (pid := processes.running(local, "intake", 1)) != first[1] and pid  # noqa: E731
    again = until(restarted, 20, f"intake-1 was not restarted: {heard}")
    assert processes.running(local, "intake", 0) == first[0], "the other instance was left alone"
    assert "intake-1 restarted (it exited)" in heard

    until(
        lambda: processes.health(local, "intake", 1, 1), 40, "the restarted intake-1 never answered /health"
    )
    rows = status(local)
    assert (rows["intake"]["pid"], rows["intake"]["restarts"]) == (first[0], 0)
    assert (rows["intake-1"]["pid"], rows["intake-1"]["restarts"]) == (again, 1)
    assert rows["intake-1"]["instance"] == 1 and rows["intake-1"]["progressing"] is True
    assert all(isinstance(rows[name]["partitions"], list) for name in ("intake", "intake-1"))  # from /health
    assert rows["contact"]["pid"] is None  # only intake was asked for
