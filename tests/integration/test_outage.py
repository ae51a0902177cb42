"""Losing the broker under load: every service rides out a SIGKILL of the broker and its restart
by itself, resumes, and nothing accepted is lost or doubled. The test runs its own broker (on
its own ports, in its own data directory), so the suite's broker is never killed."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from events.base import Actor, Money
from events.commands import AcceptPlan, ConfirmRedress, RecordContactAttempt, RecordFacts
from events.topics import KEEP_FOREVER, Topic
from services import audit, broker, clients, processes, publish, topics
from services.privacy import KeyStore
from services.settings import Settings
from services.steps.intake import case_id_for
from services.watch import Watcher
from tests.integration.conftest import free_port, free_ports
from tests.integration.test_workflow import complaint
from tests.integration.test_workflow_in_process import reading

PROBE = Topic(
    "test.outage.probe", "a transaction over the restart", key="-", carries="raw", config=KEEP_FOREVER
)
RESUME_S = 120  # a generous bound on "resumes by itself"; not a performance figure


@pytest.fixture
def own_broker(settings: Settings, tmp_path) -> Iterator[Settings]:
    port = free_ports(3, start=settings.broker_port + 10)  # broker, controller, SASL listener
    local = settings.model_copy(
        update={
            "bootstrap_servers": f"127.0.0.1:{port}",
            "data_dir": tmp_path,
            "broker_sasl_port": None,
            "kafka_timeout_s": 5.0,
            "liveness_s": 30.0,
            "database_url": None,
        }
    )
    broker.start(local, log=lambda _: None)
    try:
        yield local
    finally:
        broker.stop(local, log=lambda _: None)


@pytest.fixture
def services(own_broker: Settings) -> Iterator[Settings]:
    topics.create(own_broker, partitions=3)
    topics.create(own_broker, [PROBE], partitions=1)
    local = own_broker.model_copy(update={"metrics_port": free_ports(7, start=own_broker.broker_port + 310)})
    env = {
        "ACCORD_TICK_SECONDS": "1",
        "ACCORD_CLOCK": "message",
        "ACCORD_METRICS_PORT": str(local.metrics_port),
        "ACCORD_API_PORT": str(free_port()),
        "ACCORD_KAFKA_TIMEOUT": "5",
        "ACCORD_LIVENESS_SECONDS": "30",
    }
    for service in processes.PIPELINE:
        processes.start(local, service, env=env)
    # Every service answers /health before the test begins; one that died says why in its log.
    deadline = time.monotonic() + 90
    waiting = list(processes.PIPELINE)
    while waiting and time.monotonic() < deadline:
        waiting = [s for s in waiting if processes.health(local, s, timeout_s=1) is None]
        time.sleep(0.5)
    assert not waiting, {s: (local.data_dir / "logs" / f"{s}.log").read_text()[-2000:] for s in waiting}
    try:
        yield local
    finally:
        processes.down(local)


class Load:
    """A channel submitting steadily: it knows which submissions were acknowledged, and which
    failed in a way that leaves them unknown (they may or may not have been written)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.errors: Counter[str] = Counter()
        self.acked: list[str] = []
        self.unsure: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.run = uuid.uuid4().hex[:6]

    def _run(self) -> None:
        producer = clients.producer(self.settings)
        keys = KeyStore(self.settings)  # its SQLite connection belongs to this thread
        try:
            self._submit(producer, keys)
        finally:
            clients.close_producer(producer, 5)  # records still unsent now were counted as unsure
            keys.close()

    def _submit(self, producer, keys: KeyStore) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            sub = complaint(f"load-{self.run}-{n}", ("hotline", "branch", "app")[n % 3])
            try:
                publish.send(producer, sub, keys).get(timeout=10)
                self.acked.append(case_id_for(sub))
            except Exception as exc:  # noqa: BLE001 - the broker is down: a channel retries later
                self.errors[type(exc).__name__] += 1
                self.unsure.append(case_id_for(sub))
                time.sleep(0.5)
            time.sleep(0.05)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def assert_registered_once(self, watcher: Watcher, wait_s: float, *others: str) -> None:
        """Every acknowledged complaint opened exactly one case (waiting up to `wait_s` for the
        last ones), and nothing opened a case but the load and the `others` sent on purpose."""
        assert self.acked, f"the load never got a submission in: {self.errors}"
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and any(c not in watcher.cases for c in self.acked):
            watcher.poll(500)
        watcher.poll(500)
        registered = Counter(
            e.case_id
            for events in watcher.cases.values()
            for e in events
            if e.event.type == "ComplaintRegistered"  # type: ignore[union-attr]
        )
        assert [c for c in self.acked if registered[c] != 1] == [], "acknowledged complaints lost or doubled"
        assert all(n == 1 for n in registered.values()), "a complaint registered twice"
        assert set(registered) <= {*self.acked, *self.unsure, *others}


def kill_broker(settings: Settings) -> None:
    pid = int((settings.data_dir / "kafka" / "broker.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)  # started by this process: reap it, so it is gone for good


def drive_to_survey(settings: Settings, watcher: Watcher, tag: str) -> str:
    """One complaint through every step: intake, sla and contact open it, planning offers a
    plan, execution pays the redress, evaluation sends the survey."""
    producer = clients.producer(settings)
    keys = KeyStore(settings)
    try:
        sub = complaint(tag, "hotline")
        publish.send(producer, sub, keys).get(timeout=30)
        case = case_id_for(sub)
        handler = Actor(
            kind="staff", id=watcher.wait(case, "CaseAssigned", timeout_s=RESUME_S).event.handler_id
        )  # type: ignore[union-attr]
        customer = Actor(kind="customer", id=sub.customer_id)

        def act(body: object, actor: Actor) -> None:
            publish.send(producer, publish.command(case, body, actor)).get(timeout=30)  # type: ignore[arg-type]

        act(RecordContactAttempt(method="phone", outcome="reached"), handler)
        watcher.wait(case, "ContactAttempted", timeout_s=RESUME_S)
        act(
            RecordFacts(
                summary="learned", monthly_capacity=Money(amount=Decimal("300")), ledger=reading("3000.00")
            ),
            handler,
        )
        plan = watcher.wait(case, "PlanOffered", timeout_s=RESUME_S)
        act(AcceptPlan(plan_id=plan.event.plan_id), customer)  # type: ignore[union-attr]
        paid = watcher.wait(case, "RedressPaid", timeout_s=RESUME_S).event
        act(ConfirmRedress(reference=paid.reference), Actor(kind="staff", id="FIN-1"))  # type: ignore[union-attr]
        watcher.wait(case, "SurveySent", timeout_s=RESUME_S)
        watcher.wait(case, "DeadlineStarted", timeout_s=RESUME_S)
        return case
    finally:
        producer.close(timeout=5)
        keys.close()


def transaction_in_thread(producer: clients.TransactionalProducer, offset: int) -> threading.Thread:
    """One relay-like transaction: records, then the group offset, then commit. It may fail
    while the broker recovers, but it must end (kafka-python alone would wait for ever)."""

    def run() -> None:
        with contextlib.suppress(KafkaError):
            producer.begin()
            producer.send(PROBE.name, key=b"probe", value=b"probe")
            producer.commit({TopicPartition(PROBE.name, 0): OffsetAndMetadata(offset, "", -1)}, "probe")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_every_service_rides_out_a_broker_killed_under_load_and_nothing_is_lost_or_doubled(
    services: Settings,
) -> None:
    pids = {service: processes.running(services, service) for service in processes.PIPELINE}
    assert all(pids.values()), pids
    watcher = Watcher(services, from_beginning=True)
    try:
        before = drive_to_survey(services, watcher, f"before-{uuid.uuid4().hex[:6]}")  # all relays published
        # An idle transactional producer whose coordinator is cached: after the broker's
        # restart its next transaction is the one kafka-python used to lose for good.
        idle = clients.TransactionalProducer(services, transactional_id="accord-outage-probe")
        transaction_in_thread(idle, 1).join(timeout=30)
        with Load(services) as load:
            time.sleep(8)
            kill_broker(services)
            # Longer than the transaction timeout (2 x ACCORD_KAFKA_TIMEOUT): the open
            # transactions are aborted by the broker and their producers fenced.
            time.sleep(15)
            broker.start(services, log=lambda _: None)
            restarted = time.monotonic()
            probe = transaction_in_thread(idle, 2)
            time.sleep(8)
        probe.join(timeout=4 * services.kafka_timeout_s + 10)
        assert not probe.is_alive(), "a transaction step waited without a bound"
        idle.close()
        # Given the broker back, when a new complaint goes through every step, then every
        # service took part, each still the same process: none needed its supervisor.
        after = drive_to_survey(services, watcher, f"after-{uuid.uuid4().hex[:6]}")
        assert time.monotonic() - restarted < 4 * RESUME_S
        assert {s: processes.running(services, s) for s in processes.PIPELINE} == pids
        load.assert_registered_once(watcher, RESUME_S, before, after)
    finally:
        watcher.close()
    # The projection service took the new case in, and every service says it is progressing.
    for service in processes.PIPELINE:
        deadline = time.monotonic() + RESUME_S
        while (state := processes.health(services, service)) is None or not state["progressing"]:
            assert time.monotonic() < deadline, f"{service}: /health says {state}"
            time.sleep(1)
    assert all(action == "running" for _, action in processes.supervise(services).values())
    verdict = audit.verify(services)
    assert verdict.ok, "\n".join(str(f) for f in verdict.findings[:20])
    assert verdict.events > 0
