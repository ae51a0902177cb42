"""`accord up`'s supervision without a broker: the back-off per instance, what each instance is
called and listens on, and a round of `supervise` over fake processes (given these instances,
when one exits or stalls, then it is restarted after its back-off and its restart is counted)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services import processes
from services.cli import parser
from services.cli.run import instance_counts
from services.restarts import Backoff, Ledger, Record
from services.runtime.metrics import PORTS
from services.settings import Settings
from services.steps.registry import NAMES

# --- the back-off ---------------------------------------------------------------------------


def test_the_back_off_doubles_from_one_second_to_at_most_a_minute() -> None:
    assert [Backoff().delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert Backoff().delay(0) == 0
    assert Backoff().delay(10_000) == 60


def test_an_instance_that_keeps_failing_waits_longer_each_time_and_each_restart_is_counted() -> None:
    record, policy, now = Record(), Backoff(), 1000.0
    record.started(now)
    waits = []
    for _ in range(4):
        now += 5  # it dies five seconds after each start
        waits.append(record.failed(now, "it exited", policy) - now)
        now = record.due_at or now
        record.started(now)
    assert waits == [1, 2, 4, 8]
    assert record.restarts == 4


def test_an_instance_that_ran_for_a_while_before_it_failed_starts_again_after_one_second() -> None:
    record, policy = Record(), Backoff()
    record.started(0.0)
    for t in (5.0, 11.0, 19.0):
        record.failed(t, "it exited", policy)
        record.started(record.due_at or t)
    assert record.failures == 3
    assert record.failed(19.0 + 8 + 61, "it exited", policy) == 19.0 + 8 + 61 + 1
    assert record.failures == 1


def test_the_ledger_survives_a_round_trip_and_an_unreadable_one_starts_from_nothing(tmp_path: Path) -> None:
    settings = Settings(ACCORD_DATA_DIR=tmp_path)
    ledger = Ledger.load(settings)
    ledger.instances["intake"] = 2
    ledger.record("intake-1").failed(10.0, "it exited", Backoff())
    ledger.save()
    again = Ledger.load(settings)
    assert again.instances == {"intake": 2}
    assert again.records["intake-1"].due_at == 11.0
    ledger.path.write_text("{not json")
    assert Ledger.load(settings).records == {}


# --- names and ports ------------------------------------------------------------------------


def test_instance_zero_keeps_the_step_s_own_file_names_and_the_others_are_numbered(tmp_path: Path) -> None:
    settings = Settings(ACCORD_DATA_DIR=tmp_path)
    assert processes.instance_name("intake", 0) == "intake"
    assert processes.instance_name("intake", 2) == "intake-2"
    assert processes.parse_instance("intake-2") == ("intake", 2)
    assert processes.parse_instance("intake") == ("intake", 0)
    assert processes.log_file(settings, "sla", 0) == tmp_path / "logs" / "sla.log"
    assert processes.log_file(settings, "sla", 3) == tmp_path / "logs" / "sla-3.log"


def test_no_two_instances_of_any_two_services_share_a_metrics_port_or_a_group_identity() -> None:
    settings = Settings(ACCORD_METRICS_PORT=9400)
    ports: dict[int, str] = {}
    identities = set()
    for service in processes.SERVICES:
        for k in range(5 if service in NAMES else 1):
            env = processes.instance_env(settings, service, k)
            port = int(env["ACCORD_METRICS_PORT"]) + PORTS[service]
            assert port not in ports, f"{service}-{k} and {ports[port]} both on {port}"
            ports[port] = f"{service}-{k}"
            identities.add((service, env["ACCORD_INSTANCE"]))
    assert ports[9400 + 100 + PORTS["planning"]] == "planning-1"
    assert len(identities) == len(ports)


def test_metrics_that_are_off_stay_off_for_every_instance() -> None:
    assert processes.instance_env(Settings(ACCORD_METRICS_PORT=0), "intake", 3)["ACCORD_METRICS_PORT"] == "0"


def test_instances_n_sets_every_step_and_step_n_one_step_whatever_the_order() -> None:
    args = parser().parse_args(["up", "--instances", "sla=3", "--instances", "2"])
    assert instance_counts(args.instances) == {**dict.fromkeys(NAMES, 2), "sla": 3}
    assert instance_counts(parser().parse_args(["up"]).instances) == dict.fromkeys(NAMES, 1)


@pytest.mark.parametrize("value", ["0", "projections=2", "nosuchstep=1", "intake=x", "100"])
def test_instances_refuses_what_is_not_a_step_or_a_count(value: str) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["up", "--instances", value])


def test_a_pid_file_tells_instances_of_one_step_apart(tmp_path: Path) -> None:
    """An instance's pid reused by another instance of the same step is not taken for it."""
    settings = Settings(ACCORD_DATA_DIR=tmp_path)
    code = "import time; time.sleep(30)"
    env = {**os.environ, "ACCORD_INSTANCE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code, "run", "intake"], env=env)  # noqa: S603
    try:
        (tmp_path / "run").mkdir()
        for name in ("intake", "intake-1", "contact-1"):
            (tmp_path / "run" / f"{name}.pid").write_text(str(proc.pid))
        assert processes.running(settings, "intake", 1) == proc.pid
        assert processes.running(settings, "intake", 0) is None
        assert processes.running(settings, "contact", 1) is None
        assert processes.instances(settings, "intake") == [0, 1]
    finally:
        proc.kill()
        proc.wait()


# --- a round of supervision over fake processes ----------------------------------------------


class Fake:
    """Processes as `supervise` sees them: pid files and whether /health says it progresses."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.live: dict[tuple[str, int], int] = {}
        self.stalled: set[tuple[str, int]] = set()
        self.next_pid = 100

    def running(self, settings: Settings, step: str, instance: int = 0) -> int | None:
        return self.live.get((step, instance))

    def start(self, settings: Settings, step: str, env: object = None, instance: int = 0) -> int:
        self.next_pid += 1
        self.live[(step, instance)] = self.next_pid
        pid_file = settings.data_dir / "run" / f"{processes.instance_name(step, instance)}.pid"
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(str(self.next_pid))
        return self.next_pid

    def stop(self, settings: Settings, step: str, grace_s: float = 0, instance: int = 0) -> bool:
        (settings.data_dir / "run" / f"{processes.instance_name(step, instance)}.pid").unlink(missing_ok=True)
        self.stalled.discard((step, instance))
        return self.live.pop((step, instance), None) is not None

    def health(self, settings: Settings, step: str, timeout_s: float = 0, instance: int = 0) -> dict:
        return {"progressing": (step, instance) not in self.stalled, "lag": 0}

    def kill(self, step: str, instance: int) -> None:
        del self.live[(step, instance)]  # its pid file stays, as after a SIGKILL


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    f = Fake(Settings(ACCORD_DATA_DIR=tmp_path, ACCORD_METRICS_PORT=0))
    for name in ("running", "start", "stop", "health"):
        monkeypatch.setattr(processes, name, getattr(f, name))
    yield f


def rounds(fake: Fake, counts: dict[str, int], at: float) -> dict[str, tuple[int | None, str]]:
    return processes.supervise(fake.settings, ("intake", "contact"), counts, clock=lambda: at)


def test_given_two_instances_when_one_is_killed_then_it_is_restarted_after_its_back_off(fake: Fake) -> None:
    started = rounds(fake, {"intake": 2}, at=0.0)
    assert {name: action for name, (_, action) in started.items()} == dict.fromkeys(
        ["intake", "intake-1", "contact"], "started"
    )
    fake.kill("intake", 1)
    assert rounds(fake, {"intake": 2}, at=10.0)["intake-1"] == (None, "waiting 1s to restart (it exited)")
    assert rounds(fake, {"intake": 2}, at=10.5)["intake-1"][1].startswith("waiting")
    pid, action = rounds(fake, {"intake": 2}, at=11.0)["intake-1"]
    assert action == "restarted (it exited)" and pid == fake.live[("intake", 1)]
    fake.kill("intake", 1)  # again, 2 s after its restart: now it waits 2 s
    assert rounds(fake, {"intake": 2}, at=13.0)["intake-1"][1] == "waiting 2s to restart (it exited)"
    assert rounds(fake, {"intake": 2}, at=15.0)["intake-1"][1] == "restarted (it exited)"
    ledger = Ledger.load(fake.settings)
    assert ledger.records["intake-1"].restarts == 2
    assert ledger.records["intake"].restarts == 0
    assert ledger.instances == {"intake": 2, "contact": 1}


def test_given_an_instance_whose_health_says_it_stalled_then_it_is_started_again(fake: Fake) -> None:
    rounds(fake, {}, at=0.0)
    first = fake.live[("contact", 0)]
    fake.stalled.add(("contact", 0))
    assert rounds(fake, {}, at=100.0)["contact"][1].startswith("waiting 1s")
    pid, action = rounds(fake, {}, at=101.0)["contact"]
    assert action == "restarted (its /health said it made no progress)" and pid != first


def test_without_a_back_off_an_exited_instance_is_started_at_once(fake: Fake) -> None:
    rounds(fake, {}, at=0.0)
    fake.kill("intake", 0)
    done = processes.supervise(fake.settings, ("intake",), None, policy=None, clock=lambda: 1.0)
    assert done["intake"][1] == "restarted (it exited)"


def test_given_three_instances_when_two_are_wanted_then_the_third_is_stopped(fake: Fake) -> None:
    rounds(fake, {"intake": 3}, at=0.0)
    done = rounds(fake, {"intake": 2}, at=5.0)
    assert done["intake-2"] == (None, "stopped (scaled down to 2)")
    assert ("intake", 2) not in fake.live and ("intake", 1) in fake.live
    assert "intake-2" not in Ledger.load(fake.settings).records


def test_status_lists_every_instance_and_down_forgets_them(fake: Fake) -> None:
    rounds(fake, {"intake": 2}, at=0.0)
    fake.kill("intake", 1)
    rounds(fake, {"intake": 2}, at=10.0)
    rows = {row["name"]: row for row in processes.status(fake.settings)}
    assert set(rows) == {*processes.SERVICES, "intake-1"}
    assert rows["intake"]["pid"] and rows["intake"]["progressing"] is True
    assert rows["intake"]["partitions"] is None  # not in /health: `accord status` shows "-"
    assert rows["intake-1"]["pid"] is None and rows["intake-1"]["restart_due_at"] == 11.0
    assert rows["console"]["pid"] is None and rows["console"]["restarts"] == 0
    assert sorted(processes.down(fake.settings)) == ["contact", "intake"]
    assert not Ledger.load(fake.settings).path.exists()


def test_a_round_without_counts_keeps_the_counts_the_last_accord_up_asked_for(fake: Fake) -> None:
    rounds(fake, {"intake": 2}, at=0.0)
    assert (
        processes.supervise(fake.settings, ("intake",), None, clock=lambda: 1.0)["intake-1"][1] == "running"
    )
    processes.supervise(fake.settings, ("intake",), {"intake": 3}, policy=None, clock=lambda: 2.0)
    done = processes.supervise(fake.settings, ("intake",), None, clock=lambda: 3.0)
    assert [action for _, action in done.values()] == ["running"] * 3


def test_an_instance_started_by_someone_else_during_its_back_off_counts_as_restarted(fake: Fake) -> None:
    rounds(fake, {}, at=0.0)
    fake.kill("intake", 0)
    assert rounds(fake, {}, at=10.0)["intake"][1].startswith("waiting")
    fake.start(fake.settings, "intake")
    assert rounds(fake, {}, at=10.5)["intake"][1] == "running"
    record = Ledger.load(fake.settings).records["intake"]
    assert (record.restarts, record.due_at, record.started_at) == (1, None, 10.5)
