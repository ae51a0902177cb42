"""An in-process bus for fast workflow tests: the real step processors, their real SQLite
stores and their real relays, built by the composition root (services/bootstrap.py), with Kafka
replaced by lists: each relay publishes through an outlet that appends to them."""

from __future__ import annotations

import contextlib
import json
import random
import uuid
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime

from events.base import Actor
from events.codec import decode, encode
from events.envelope import Envelope
from events.topics import COMMANDS, SUBMITTED
from services import bootstrap, publish
from services.privacy import KeyStore
from services.runtime.clock import ManualClock
from services.runtime.relay import Record, Relay
from services.runtime.store import EMIT
from services.settings import Settings
from services.steps import registry


class MemoryOutlet:
    """A relay's outlet onto the bus: a transaction's records reach the topics on commit."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.position = 0
        self.pending: list[Record] = []

    def open(self) -> int:
        return self.position

    def begin(self) -> None:
        self.pending = []

    def send(self, record: Record) -> None:
        self.pending.append(record)

    def commit(self, position: int) -> None:
        for record in self.pending:
            self.bus.deliver(record)
        self.pending, self.position = [], position

    def abort(self) -> None:
        self.pending = []

    def close(self) -> None:
        pass


class Bus:
    def __init__(
        self,
        data_dir,
        settings: Settings | None = None,
        start: datetime = datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        interleave: random.Random | None = None,
        tick_chance: float = 0.0,
    ) -> None:
        base = settings or Settings.from_env({})
        self.settings = base.model_copy(update={"data_dir": data_dir})
        self.clock = ManualClock(start)
        keys = KeyStore(self.settings)
        # Every registered step, built as `accord run` builds it, with this bus as its Kafka.
        self.runners = {
            spec.name: bootstrap.processor(spec, self.settings, clock=self.clock, sealer=keys)
            for spec in registry.specs()
        }
        self.relays: dict[str, Relay] = {}
        for name, runner in self.runners.items():
            outlet = MemoryOutlet(self)
            self.relays[name] = bootstrap.relay(runner, lambda outlet=outlet: outlet)
        self.topics: dict[str, list[tuple[bytes | None, bytes | None, list]]] = {}
        self.queue: deque[tuple[str, int]] = deque()
        self.log: list[Envelope] = []  # every event in the order the relays published it
        # With `interleave`, the next record is taken from a randomly chosen topic (each topic
        # stays in order, as a Kafka partition does) and timers tick at random moments: the
        # read orders a real consumer of several topics may see.
        self.interleave = interleave
        self.tick_chance = tick_chance
        self.holding = False
        self.pending: list[tuple[str, str, int]] = []  # (step, topic, offset) not read yet
        self.speeds: dict[tuple[str, str], float] = {}

    def publish(self, topic: str, key: bytes | None, value: bytes | None, headers=None) -> None:
        self.topics.setdefault(topic, []).append((key, value, headers or []))
        self.queue.append((topic, len(self.topics[topic]) - 1))
        if not self.holding:
            self._pump()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Publish several records before any is delivered."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
            self._pump()

    def submit(self, submission: dict) -> None:
        self.publish(SUBMITTED.name, submission["submission_id"].encode(), json.dumps(submission).encode())

    def act(self, case_id: str, command, actor: Actor) -> uuid.UUID:
        envelope = publish.command(case_id, command, actor, self.clock.now())
        self.publish(COMMANDS.name, case_id.encode(), encode(envelope))
        return envelope.command_id

    def tick(self) -> None:
        for runner in self.runners.values():
            runner.tick()
        self._relay()
        self._pump()

    def redeliver(self, topic: str, offset: int) -> None:
        self.queue.append((topic, offset))
        self._pump()

    def _pump(self) -> None:
        if self.interleave is not None:
            return self._pump_interleaved(self.interleave)
        while self.queue:
            topic, offset = self.queue.popleft()
            key, value, headers = self.topics[topic][offset]
            for runner in self.runners.values():
                if topic in runner.step.inputs:
                    runner.handle(topic, 0, offset, key, value, headers)
            self._relay()

    def _pump_interleaved(self, rng: random.Random) -> None:
        """Each step reads at its own pace, as its own consumer group does: the next record
        goes to a random step, from a random one of its topics (each topic in order)."""
        while self.queue or self.pending:
            self.pending.extend(
                (name, topic, offset)
                for topic, offset in self.queue
                for name, runner in self.runners.items()
                if topic in runner.step.inputs
            )
            self.queue.clear()
            if not self.pending:
                return
            # Each (step, topic) reads at a speed of its own: some fall far behind others.
            lanes = sorted({(n, t) for n, t, _ in self.pending})
            for lane in lanes:
                self.speeds.setdefault(lane, rng.choice([0.02, 0.2, 1.0, 5.0]))
            name, topic = rng.choices(lanes, weights=[self.speeds[lane] for lane in lanes])[0]
            index = next(i for i, (n, t, _) in enumerate(self.pending) if n == name and t == topic)
            _, _, offset = self.pending.pop(index)
            key, value, headers = self.topics[topic][offset]
            self.runners[name].handle(topic, 0, offset, key, value, headers)
            self._relay()
            if rng.random() < self.tick_chance:
                for runner in self.runners.values():
                    runner.tick()
                self._relay()

    def _relay(self) -> None:
        for relay in self.relays.values():
            relay.publish()

    def deliver(self, record: Record) -> None:
        """A published record: onto its topic, and queued for the steps that read it."""
        self.topics.setdefault(record.topic, []).append((record.key, record.value, record.headers))
        if record.kind == EMIT:
            self.log.append(decode(Envelope, record.value))
        self.queue.append((record.topic, len(self.topics[record.topic]) - 1))

    def continue_from(self, other: Bus) -> None:
        """Pick up where another bus over the same stores left off (a restart): its topics,
        and each relay at the position the last committed transaction recorded."""
        self.topics, self.log = other.topics, list(other.log)
        for name, relay in self.relays.items():
            assert isinstance(relay.producer, MemoryOutlet)
            relay.producer.position = relay.position = other.relays[name].position

    def events(self, case_id: str | None = None) -> list[Envelope]:
        return [e for e in self.log if case_id is None or e.case_id == case_id]

    def types(self, case_id: str | None = None) -> list[str]:
        return [e.event.type for e in self.events(case_id)]  # type: ignore[union-attr]
