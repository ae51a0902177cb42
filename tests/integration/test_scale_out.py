"""Several instances of every step, as Kafka runs consumers: each instance a process in its
step's consumer group, owning a share of the partitions with their stores. Under a steady
load one instance of each step in turn is SIGKILLed: its partitions move to the others within
the session timeout, and a verifier reading every topic from offset 0 finds every submission
with exactly one case, every step's events gapless per case, no event twice, `audit verify`
clean and a rebuild of the views equal to the live ones. Then a rolling restart of a step's
instances, and a fourth instance added under the load. Runs its own broker."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator

import pytest

from events.codec import decode
from events.envelope import Envelope
from events.topics import STEP_TOPICS
from projections.rebuild import rebuild
from services import audit, clients, processes, topics
from services.settings import Settings
from services.steps.registry import NAMES
from services.watch import Watcher
from tests.integration.conftest import free_port, free_ports
from tests.integration.test_outage import RESUME_S, Load, drive_to_survey, own_broker  # noqa: F401

PARTITIONS = 6
SESSION_S = 6.0  # the group's session timeout: how long a silent instance keeps its partitions
INSTANCES = 3


class Instances:
    """The test's step instances, started and watched as `accord up --instances` does
    (services/processes.py: ACCORD_INSTANCE=k, metrics base + 100·k, a pid file and log each)."""

    def __init__(self, settings: Settings, env: dict[str, str]) -> None:
        self.settings = settings
        self.env = env
        self.started: set[tuple[str, int]] = set()

    def start(self, step: str, k: int) -> None:
        processes.start(self.settings, step, env=self.env, instance=k)
        self.started.add((step, k))

    def kill(self, step: str, k: int) -> None:
        pid = processes.running(self.settings, step, k)
        assert pid is not None, f"{step}-{k} is not running"
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)  # started by this process: reap it, so it is gone for good
        self.started.discard((step, k))

    def restart(self, step: str, k: int) -> None:
        """Stopped as systemd or Kubernetes stop it (SIGTERM), then started again."""
        processes.stop(self.settings, step, instance=k)
        self.start(step, k)

    def health(self, step: str, k: int) -> dict | None:
        return processes.health(self.settings, step, timeout_s=2, instance=k)

    def owners(self, step: str) -> dict[int, list[int]]:
        """Each live instance of the step and the partition numbers its /health says it owns."""
        out = {}
        for s, k in sorted(self.started):
            if s == step:
                state = self.health(step, k)
                out[k] = list(state.get("partitions") or []) if state else []
        return out

    def tails(self, step: str) -> str:
        return "\n".join(
            f"--- {step}-{k}\n" + processes.log_file(self.settings, step, k).read_text()[-1500:]
            for s, k in sorted(self.started)
            if s == step
        )

    def stop_all(self) -> None:
        processes.down(self.settings)
        self.started.clear()


def wait_for(check: Callable[[], bool], why: Callable[[], str], timeout_s: float = RESUME_S) -> float:
    """Seconds until `check` held."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(why())
        time.sleep(0.25)
    return time.monotonic() - started


def covered(instances: Instances, step: str, count: int | None = None) -> Callable[[], bool]:
    """Every partition owned by exactly one live instance, `count` instances sharing them."""

    def check() -> bool:
        owners = instances.owners(step)
        numbers = [n for owned in owners.values() for n in owned]
        if sorted(numbers) != list(range(PARTITIONS)):
            return False
        holding = [k for k, owned in owners.items() if owned]
        return count is None or len(holding) == count

    return check


@pytest.fixture
def scaled(own_broker: Settings) -> Iterator[tuple[Settings, Instances]]:  # noqa: F811
    topics.create(own_broker, partitions=PARTITIONS)
    local = own_broker.model_copy(
        update={"metrics_port": free_ports(10, start=own_broker.broker_port + 1000), "partitions": PARTITIONS}
    )
    env = {
        "ACCORD_DATA_DIR": str(local.data_dir),
        "KAFKA_BOOTSTRAP_SERVERS": local.bootstrap_servers,
        "ACCORD_PARTITIONS": str(PARTITIONS),
        "ACCORD_TICK_SECONDS": "1",
        "ACCORD_CLOCK": "message",
        "ACCORD_KAFKA_TIMEOUT": "5",
        "ACCORD_LIVENESS_SECONDS": "60",
        "ACCORD_SESSION_TIMEOUT": str(SESSION_S),
        "ACCORD_API_PORT": str(free_port()),
    }
    instances = Instances(local, env)
    processes.start(local, "projections", env=env)
    for step in NAMES:
        for k in range(INSTANCES):
            instances.start(step, k)
    try:
        for step in NAMES:
            wait_for(covered(instances, step, INSTANCES), lambda step=step: instances.tails(step), 180)
        yield local, instances
    finally:
        instances.stop_all()


def verify_history(settings: Settings, expected: int) -> None:
    """Every topic from offset 0: no event id twice, each step's events gapless per case."""
    ids: Counter[str] = Counter()
    sequences: dict[tuple[str, str], list[int]] = defaultdict(list)
    for record in clients.read_to_end(settings, [t.name for t in STEP_TOPICS.values()]):
        envelope = decode(Envelope, record.value)
        ids[str(envelope.event_id)] += 1
        sequences[(envelope.step, envelope.case_id)].append(envelope.sequence)
    assert sum(ids.values()) >= expected
    assert [i for i, n in ids.items() if n > 1] == [], "an event published twice"
    gaps = {key: seqs for key, seqs in sequences.items() if seqs != list(range(1, len(seqs) + 1))}
    assert gaps == {}, f"sequences with a gap or out of order: {list(gaps.items())[:5]}"


def verify_everything(settings: Settings, expected: int) -> None:
    """The verifier, once nothing is left to consume or publish: the history (verify_history),
    `audit verify` (links, and every event against its store), and a rebuild of the views
    equal to the live ones."""
    verify_history(settings, expected)
    verdict = audit.verify(settings)
    assert verdict.ok, "\n".join(str(f) for f in verdict.findings[:20])
    assert verdict.events > 0
    assert rebuild(settings, log=lambda _: None), "a rebuild of the views differs from the live ones"


def settle(instances: Instances, settings: Settings) -> None:
    """Nothing left to consume or publish anywhere, three checks in a row."""
    quiet: list[bool] = []

    def check() -> bool:
        states = [instances.health(s, k) for s, k in sorted(instances.started)]
        states.append(processes.health(settings, "projections", timeout_s=5))
        quiet.append(all(state is not None and state["lag"] == 0 for state in states))
        time.sleep(1)
        return quiet[-3:] == [True, True, True]

    wait_for(check, lambda: "the pipeline never settled")


def test_three_instances_per_step_survive_a_kill_of_each_in_turn_and_nothing_is_lost_or_doubled(
    scaled: tuple[Settings, Instances],
) -> None:
    settings, instances = scaled
    watcher = Watcher(settings, from_beginning=True)
    failovers: dict[str, float] = {}
    try:
        with Load(settings) as load:
            wait_for(lambda: len(load.acked) >= 20, lambda: f"no load: {load.errors}")
            for step in NAMES:
                # The instance owning the most partitions is killed.
                owners = instances.owners(step)
                victim = max(owners, key=lambda k: (len(owners[k]), -k))
                instances.kill(step, victim)
                failovers[step] = wait_for(
                    covered(instances, step, INSTANCES - 1),
                    lambda step=step: (
                        f"{step}: partitions never moved: {instances.owners(step)}\n" + instances.tails(step)
                    ),
                    SESSION_S + 60,
                )
                instances.start(step, victim)  # it comes back and gets its share again
            for step in NAMES:
                wait_for(covered(instances, step, INSTANCES), lambda step=step: instances.tails(step))
            case = drive_to_survey(settings, watcher, f"scaled-{uuid.uuid4().hex[:6]}")
        load.assert_registered_once(watcher, RESUME_S, case)
        print(f"\nfailover (kill to every partition owned again), seconds: {failovers}")
    finally:
        watcher.close()
    settle(instances, settings)
    verify_everything(settings, expected=2 * len(load.acked))


def test_a_rolling_restart_and_a_fourth_instance_under_load_lose_and_double_nothing(
    scaled: tuple[Settings, Instances],
) -> None:
    settings, instances = scaled
    watcher = Watcher(settings, from_beginning=True)
    try:
        with Load(settings) as load:
            wait_for(lambda: len(load.acked) >= 20, lambda: f"no load: {load.errors}")
            # Every instance of planning stopped and started again, one at a time: all its
            # partitions owned again, by all three, after each. (Back within the session timeout,
            # a static member gets its own partitions back without a rebalance: test_group.py.)
            for k in range(INSTANCES):
                instances.restart("planning", k)
                wait_for(covered(instances, "planning", INSTANCES), lambda: instances.tails("planning"))
            # A fourth instance of contact joins under the load and is given a share.
            instances.start("contact", INSTANCES)
            wait_for(covered(instances, "contact", INSTANCES + 1), lambda: instances.tails("contact"))
            case = drive_to_survey(settings, watcher, f"rolling-{uuid.uuid4().hex[:6]}")
        load.assert_registered_once(watcher, RESUME_S, case)
    finally:
        watcher.close()
    settle(instances, settings)
    verify_everything(settings, expected=2 * len(load.acked))
