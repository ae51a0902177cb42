"""The one consumer loop, shared by every step: read Kafka, decode, let the step's pure core
decide, record the new events together with the consumed position in one transaction, and
hand them to the relay. Redeliveries (same offset, or the same input at a new offset) have no
second effect; bad input is recorded as a rejection and the stream goes on."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol, cast

from eventsourcing.persistence import PersistenceError, Tracking
from kafka import TopicPartition
from kafka.errors import KafkaError

from events.base import Actor, Message
from events.base import Step as StepName
from events.codec import DecodeError, content_hash, decode, encode
from events.commands import CommandEnvelope
from events.envelope import Envelope
from events.identity import NAMESPACE, submission_id
from events.personal import PersonalData, SealedPersonalData, has_personal
from events.submission import ComplaintSubmission
from events.topics import DEADLETTER, REJECTED, SUBMITTED, by_name, event_topic
from services import clients
from services.runtime import metrics
from services.runtime.clock import SystemClock
from services.runtime.health import Liveness
from services.runtime.relay import Relay, rejection
from services.runtime.store import EMIT, META, REJECT, SEEN, Conflict, Item, StepStore
from services.runtime.watermark import Watermark
from services.settings import Settings
from services.steps.contract import Input, Tick

log = logging.getLogger("accord.loop")
MODELS: dict[str, type[Message]] = {
    "submission": ComplaintSubmission,
    "command": CommandEnvelope,
    "event": Envelope,
}


# Failures of the machinery around a step (its database, the broker, the disk) end the loop
# so that the process exits and is restarted; the input is then read again. Any other
# exception while one input is decoded, routed, folded or decided is that input's problem
# (or a bug in the step): the input is rejected with the reason and the stream goes on.
INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    PersistenceError,
    sqlite3.Error,
    OSError,
    KafkaError,
    MemoryError,
)
try:
    import psycopg

    INFRASTRUCTURE += (psycopg.Error,)
except ImportError:  # pragma: no cover - PostgreSQL support is an optional extra
    pass


class StepError(Exception):
    """A step's code failed on one input: the reason names where, never the input's values."""

    def __init__(self, step: str, phase: str, exc: BaseException) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        where = next(
            (f"{_module_path(f.filename)}:{f.name}" for f in reversed(frames) if _ours(f.filename)),
            "?",
        )
        self.reason = f"step error: {step} failed to {phase} this input ({type(exc).__name__} in {where})"
        super().__init__(self.reason)


def _ours(filename: str) -> bool:
    return any(f"{os.sep}{package}{os.sep}" in filename for package in ("services", "events", "projections"))


def _module_path(filename: str) -> str:
    for package in ("services", "events", "projections"):
        marker = f"{os.sep}{package}{os.sep}"
        if marker in filename:
            return package + "/" + filename.rsplit(marker, 1)[1]
    return os.path.basename(filename)


def _claim_key(identity: str) -> str:
    """The store stream that holds the content hash of a submission id's first body."""
    return f"meta|claim|{identity}"


class Origin(NamedTuple):
    """Where a Kafka record came from, and its bytes as they arrived."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class Stream:
    """What the runtime knows of one stream: the step's own state plus bookkeeping."""

    core: Any
    version: int = 0
    seen: dict[str, str | None] = field(default_factory=dict)  # input id -> hash of its content
    chains: dict[str, tuple[int, str]] = field(default_factory=dict)  # case -> (seq, hash)
    last_time: datetime | None = None  # the latest time any of its inputs carried


def content_of(message: Input) -> str | None:
    """What a redelivery must repeat exactly: the canonical content of a submission or a
    command (the same id with other content is a conflict). Events are told apart by id
    alone: a rebuilt store republishes an event under its id with a new `occurred_at`."""
    if isinstance(message, ComplaintSubmission | CommandEnvelope):
        return content_hash(encode(message))
    return None


def input_identity(message: Input, raw: bytes) -> tuple[str, uuid.UUID, str | None]:
    """(dedupe id, correlation id, hash of the input's bytes) of an input."""
    if isinstance(message, Envelope):
        return str(message.event_id), message.correlation_id, content_hash(raw)
    if isinstance(message, CommandEnvelope):
        return str(message.command_id), message.command_id, content_hash(raw)
    if isinstance(message, ComplaintSubmission):
        sid = submission_id(message)
        return str(sid), sid, content_hash(raw)
    raise TypeError(message)


class Sealer(Protocol):
    """Seals personal data with the customer's own key. The key store (services/privacy.py) is
    handed to the runtime by whoever builds it, so the runtime never imports it."""

    def seal(self, customer_id: str, personal: PersonalData) -> SealedPersonalData: ...
    def seal_submission(self, submission: ComplaintSubmission) -> ComplaintSubmission: ...


class Runner:
    """Runs one step: `Runner(step_module, settings, sealer=KeyStore(settings)).run(stop)`."""

    def __init__(
        self,
        step: Any,
        settings: Settings,
        clock: Any = None,
        cache_size: int = 5000,
        liveness: Liveness | None = None,
        *,
        sealer: Sealer,
    ) -> None:
        self.step = step
        self.name: str = step.STEP
        self.settings = settings
        self.rules = settings.rules()  # the core sees the policy settings, never the rest
        self.clock = clock or SystemClock()
        self.store = StepStore.open(self.name, settings.data_dir, settings.database_url)
        self.cache: OrderedDict[str, Stream] = OrderedDict()
        self.cache_size = cache_size
        self.timers: dict[str, datetime] = {}
        self.keys = sealer
        self.relay: Relay | None = None
        self.consumer: Any = None
        self.liveness = liveness or Liveness(self.name, settings.liveness_s)
        self.lag = 0  # records behind the ends of the input partitions, as last measured
        # Fault injection for the crash tests: SIGKILL this process right after the Nth
        # recorded input, before the relay has published it. Never set in production.
        self.kill_after = int(os.environ.get("ACCORD_FAULT_KILL_AFTER_RECORDS", "0") or 0)
        self.recorded = 0
        self.watermark = Watermark(settings.clock)

    # -- state -------------------------------------------------------------------------------
    def load(self, key: str) -> Stream:
        stream = self.cache.get(key)
        if stream is None:
            stream = Stream(core=self.step.initial())
            self._fold(stream, self.store.stream(key))
            self.cache[key] = stream
        self.cache.move_to_end(key)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)  # bounded: memory stays flat however many cases
        return stream

    def _fold(self, stream: Stream, items: list[tuple[int, Item]]) -> None:
        for version, item in items:
            stream.version = version
            if item.kind not in (SEEN, EMIT):
                continue
            message = _decode_input(item.topic, item.data)
            at = _time_of(message)
            if at is not None and (stream.last_time is None or at > stream.last_time):
                stream.last_time = at
            if item.kind == SEEN:
                stream.seen[input_identity(message, item.data)[0]] = content_of(message)
            elif item.kind == EMIT:
                assert isinstance(message, Envelope)
                stream.chains[message.case_id] = (message.sequence, content_hash(item.data))
            stream.core = self.step.evolve(stream.core, message)

    # -- one input ---------------------------------------------------------------------------
    def handle(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> str:
        """Process one Kafka record; returns what happened (for tests and logs). No input,
        whatever its bytes or values, raises: it is rejected with the reason instead. Only a
        failure of the store, the key store or the broker propagates (the process then exits
        and reads the input again after its restart)."""
        position = Tracking(f"{topic}:{partition}", offset)
        metrics.CONSUMED.labels(self.name, topic).inc()
        stream_key: str | None = None
        phase = "decode"
        try:
            message = _decode_input(topic, value, self.clock.now())
            self.watermark.saw(f"{topic}:{partition}", _time_of(message))
            phase = "route"
            if not self.step.interested(message):
                return "skipped"
            stream_key = self.step.route(message)
            if stream_key is None:
                return "skipped"
            phase = "fold the history of"
            started = time.perf_counter()
            stream = self.load(stream_key)
            phase = "decide on"
            origin = Origin(topic, partition, offset, key, value)
            outcome = self._accept(stream_key, stream, message, origin, position)
            metrics.LATENCY.labels(self.name).observe(time.perf_counter() - started)
            return outcome
        except DecodeError as exc:
            if phase == "decode":  # the input's own bytes; later, a stored record: a step error
                return self._reject(topic, partition, offset, key, value, exc.reason, exc.field, position)
            return self._step_error(stream_key, phase, exc, topic, partition, offset, key, value, position)
        except INFRASTRUCTURE:
            raise
        except Exception as exc:  # noqa: BLE001 - one input must never stop the step
            return self._step_error(stream_key, phase, exc, topic, partition, offset, key, value, position)

    def _step_error(
        self,
        stream_key: str | None,
        phase: str,
        exc: Exception,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        position: Tracking,
    ) -> str:
        if stream_key is not None:
            self.cache.pop(stream_key, None)  # its cached state may be half-updated
        error = StepError(self.name, phase, exc)
        metrics.STEP_ERRORS.labels(self.name, topic).inc()
        log.error("%s: %s at %s[%d]@%d", self.name, error.reason, topic, partition, offset)
        return self._reject(topic, partition, offset, key, value, error.reason, None, position, "step-error")

    def _accept(
        self, stream_key: str, stream: Stream, message: Input, origin: Origin, position: Tracking
    ) -> str:
        topic, raw = origin.topic, origin.value or b""
        identity, correlation, cause_hash = input_identity(message, raw)
        message, kept = self._sealed(message, raw)
        content = content_of(message)
        claims: list[tuple[str, Item]] = []
        if isinstance(message, ComplaintSubmission):
            # A submission id is unique per channel across every customer, so its first body is
            # claimed in a stream of its own: the customer streams cannot see each other.
            claimed = self.store.stream(_claim_key(identity))
            if claimed:
                first = claimed[0][1].data.decode()
                return self._duplicate(position) if first == content else self._conflict(origin, position)
            claims.append(
                (_claim_key(identity), Item(META, topic, "SubmissionClaimed", 1, "", str(content).encode()))
            )
        if identity in stream.seen:
            if content is not None and stream.seen[identity] not in (None, content):
                return self._conflict(origin, position)
            return self._duplicate(position)
        seen = Item(SEEN, topic, _type_of(message), 1, "", kept)
        return self._decide_and_record(
            stream_key,
            stream,
            message,
            seen,
            position,
            correlation=correlation,
            causation=_causation(message),
            cause_hash=cause_hash,
            claims=claims,
        )

    def _duplicate(self, position: Tracking) -> str:
        metrics.DUPLICATES.labels(self.name).inc()
        self._advance(position)
        return "duplicate"

    def _conflict(self, origin: Origin, position: Tracking) -> str:
        kind = "submission" if origin.topic == SUBMITTED.name else "command"
        field = "submission_id" if kind == "submission" else "command_id"
        reason = f"conflict: this {field} was already used for a different {kind}; the first one stands"
        return self._reject(*origin, reason, field, position, "conflict")

    def _sealed(self, message: Input, raw: bytes) -> tuple[Input, bytes]:
        """A submission whose channel sent personal data in the clear is sealed before it is
        decided on or stored, so only the topic it arrived on holds that plaintext."""
        if not isinstance(message, ComplaintSubmission):
            return message, raw
        if not isinstance(message.customer, PersonalData) or not has_personal(message.customer):
            return message, raw
        metrics.PLAINTEXT.labels(message.channel).inc()
        log.warning(
            "%s: submission %s from channel %s carried personal data in the clear; sealed on arrival",
            self.name,
            message.submission_id,
            message.channel,
        )
        sealed = self.keys.seal_submission(message)
        return sealed, encode(sealed)

    def _seal(
        self, personal: PersonalData | SealedPersonalData | None, customer_id: str | None
    ) -> SealedPersonalData | None:
        """What goes into an envelope's `personal`: never plaintext."""
        if not isinstance(personal, PersonalData):
            return personal
        if not has_personal(personal):
            return None
        if customer_id is None:
            raise ValueError(f"{self.name}: personal data without a customer to seal it for")
        return self.keys.seal(customer_id, personal)

    def _now(self, message: Input) -> datetime:
        if self.settings.clock != "message":
            return self.clock.now()
        return _time_of(message) or self.clock.now()

    def tick(self, now: datetime | None = None) -> int:
        """Let every stream whose timer is due decide what the passing of time means. Without
        an explicit `now`, time is the watermark of the inputs (services/runtime/watermark.py):
        a timer never fires while an input that was on a topic before it fell due is unread.
        With ACCORD_CLOCK=message a stream's time is also capped by the latest time its own
        inputs carried, so a replay fires a case's timers only when its own history passes them."""
        per_stream = now is None and self.settings.clock == "message"
        if now is None:
            mark = self.watermark.value(self.clock.now(), self._caught_up)
            if mark is None:
                return 0
            now = mark
        fired = 0
        for key, at in list(self.timers.items()):
            stream_now = now
            if per_stream:
                last = self.load(key).last_time
                if last is None:
                    continue
                stream_now = min(now, last)
            if at > stream_now:
                continue
            stream = self.load(key)
            before = stream.version
            self._decide_and_record(key, stream, Tick(stream_now), None, None, now=stream_now)
            fired += stream.version - before
        return fired

    def _decide_and_record(
        self,
        key: str,
        stream: Stream,
        message: Input,
        seen: Item | None,
        position: Tracking | None,
        *,
        correlation: uuid.UUID | None = None,
        causation: uuid.UUID | None = None,
        cause_hash: str | None = None,
        now: datetime | None = None,
        claims: list[tuple[str, Item]] | None = None,
    ) -> str:
        now = now or self._now(message)
        core = self.step.evolve(stream.core, message) if seen is not None else stream.core
        shared = getattr(self.step, "SHARED", None)
        if shared is not None and key != shared:
            core = self.step.with_shared(core, self.load(shared).core)  # e.g. planning's reference data
        emits = self.step.decide(core, message, now, self.rules)
        items: list[Item] = [seen] if seen is not None else []
        chains = dict(stream.chains)
        actor_default = (
            message.actor if isinstance(message, CommandEnvelope) else Actor(kind="system", id=self.name)
        )
        customer = getattr(core, "customer_id", None)
        for index, emit in enumerate(emits):
            # A timer's stream key is its case id (steps with timers keep one stream per case).
            case_id = emit.case_id or _case_of(message) or (key if isinstance(message, Tick) else None)
            if case_id is None:
                raise ValueError(f"{self.name}: emitted {type(emit.event).__name__} without a case")
            sequence, previous = chains.get(case_id, (0, None))
            customer_id = getattr(emit.event, "customer_id", None) or customer
            envelope = Envelope(
                event_id=uuid.uuid5(NAMESPACE, f"{self.name}|{key}|{stream.version}|{index}"),
                case_id=case_id,
                occurred_at=now,
                step=cast(StepName, self.name),
                sequence=sequence + 1,
                correlation_id=correlation or uuid.uuid5(NAMESPACE, f"case|{case_id}"),
                causation_id=causation,
                actor=emit.actor or actor_default,
                customer_id=customer_id,
                prev_hash=previous,
                cause_hash=cause_hash,
                personal=self._seal(emit.personal, customer_id),
                event=emit.event,
            )
            data = encode(envelope)
            chains[case_id] = (sequence + 1, content_hash(data))
            items.append(
                Item(
                    EMIT,
                    event_topic(self.name).name,
                    _type_of(envelope),
                    envelope.event.schema_version,
                    case_id,
                    data,
                )
            )
        if not items:
            return "no-op"
        try:
            self.store.record(key, stream.version, items, position, claims or ())
        except Conflict:
            # Recorded before (a redelivery at the same offset) or written by another
            # instance: forget the cached state and let the next read reload it.
            self.cache.pop(key, None)
            metrics.DUPLICATES.labels(self.name).inc()
            return "duplicate"
        self._fold(stream, [(stream.version + i + 1, item) for i, item in enumerate(items)])
        self._count_recorded()
        for emit in emits:
            metrics.EMITTED.labels(self.name, type(emit.event).__name__).inc()
            if type(emit.event).__name__ == "CommandRejected":
                metrics.COMMANDS_REFUSED.labels(self.name, emit.event.command_type).inc()
        self._set_timer(key, stream)
        return "recorded" if emits else "noted"

    def _count_recorded(self) -> None:
        self.recorded += 1
        if self.kill_after and self.recorded >= self.kill_after:
            log.warning("%s: fault injection: SIGKILL after %d recorded inputs", self.name, self.recorded)
            os.kill(os.getpid(), signal.SIGKILL)

    def _set_timer(self, key: str, stream: Stream) -> None:
        next_due = getattr(self.step, "next_due", None)
        if next_due is None:
            return
        due = next_due(stream.core)
        if due is None:
            self.timers.pop(key, None)
        else:
            self.timers[key] = due
        metrics.TIMERS.labels(self.name).set(len(self.timers))

    def _advance(self, position: Tracking) -> None:
        with contextlib.suppress(Conflict):
            self.store.record("", 0, [], position)

    def _reject(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        reason: str,
        field: str | None,
        position: Tracking,
        kind: str = "bad-input",
    ) -> str:
        """Record the input as rejected (original bytes and the reason) for the relay to put on
        `complaints.rejected` or `accord.deadletter`, and move on past it."""
        target = REJECTED if topic == SUBMITTED.name else DEADLETTER
        data = rejection(value, key, reason, field, topic, partition, offset, kind)
        item = Item(REJECT, target.name, "Rejected", 1, "", data)
        try:
            self.store.record(f"rejected|{topic}|{partition}|{offset}", 0, [item], position)
        except Conflict:
            return "duplicate"
        self._count_recorded()
        if kind != "step-error":
            metrics.REJECTED.labels(self.name, topic).inc()
        log.warning("%s rejected %s[%d]@%d (%s): %s", self.name, topic, partition, offset, kind, reason)
        return "rejected"

    # -- the loop ----------------------------------------------------------------------------
    def rebuild_timers(self) -> None:
        """Find the open timers after a restart: one pass over the step's own history."""
        if getattr(self.step, "next_due", None) is None:
            return
        keys: set[str] = set()
        after = 0
        while True:
            batch = self.store.notifications(after, 2000)
            if not batch:
                break
            keys.update(
                str(n.originator_id)
                for n in batch
                if not str(n.originator_id).startswith(("rejected|", "meta|"))
            )
            after = batch[-1].id
            self.liveness.beat()  # a long history to scan is no hang
        for key in keys:
            stream = Stream(core=self.step.initial())
            self._fold(stream, self.store.stream(key))
            self._set_timer(key, stream)

    def start(self) -> None:
        anchor = event_topic(self.name).name
        self.relay = Relay(
            self.name,
            self.store,
            self.settings,
            anchor_topic=anchor,
            on_publish=self._published,
            on_recover=lambda: metrics.RECOVERIES.labels(self.name, "relay").inc(),
        )
        published = self.relay.publish()  # whatever was recorded before a crash goes out now
        if published:
            log.info("%s: published %d message(s) recorded before the last stop", self.name, published)
        self.rebuild_timers()
        self.consumer = clients.consumer(
            self.settings,
            group_id=f"accord-{self.name}",
            max_poll_records=500,
            client_id=f"accord-{self.name}",
        )
        # One instance per step owns every input partition (the store's tracking is the truth;
        # the group's committed offsets only report lag). Scaling out means splitting the
        # partitions between instances, each with its own store.
        partitions = self._partitions()
        self.consumer.assign(partitions)
        read_before = []
        for tp in partitions:
            recorded = self.store.position(f"{tp.topic}:{tp.partition}")
            if recorded is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, recorded + 1)
                read_before.append(f"{tp.topic}:{tp.partition}")
        self.watermark.assign([f"{tp.topic}:{tp.partition}" for tp in partitions], read_before)

    def _caught_up(self, partition: str) -> bool:
        """Whether this input partition has been read to its end, as of the last fetch."""
        if self.consumer is None:
            return True  # driven by hand (tests): every input was handed over already
        topic, number = partition.rsplit(":", 1)
        tp = TopicPartition(topic, int(number))
        end = self.consumer.highwater(tp)  # from the last fetch: no request
        if end is None:
            return False
        position = self.consumer.position(tp, timeout_ms=1000)  # known after a fetch: no wait
        return position is not None and position >= end  # (past commit markers too)

    def _published(self, topic: str, kind: str) -> None:
        metrics.PUBLISHED.labels(self.name, topic).inc()
        # A long backlog (after an outage, or a rebuilt store) is progress, not a hung loop.
        self.liveness.beat()
        self.liveness.progressed(1)

    def _partitions(self, timeout_s: float = 60.0) -> list[TopicPartition]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = {topic: self.consumer.partitions_for_topic(topic) for topic in self.step.INPUTS}
            missing = [topic for topic, parts in found.items() if not parts]
            if not missing:
                return [TopicPartition(topic, p) for topic, parts in found.items() for p in sorted(parts)]
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: topics {missing} do not exist; run `accord topics create`")
            time.sleep(0.5)

    def run(self, stop: threading.Event | None = None) -> None:
        """Consume, record and publish until `stop` is set. Through a broker outage it keeps
        turning: polls return nothing, the relay repairs itself (services/runtime/relay.py),
        lag is measured again later; only an error nothing here can cure is raised, and the
        process then exits non-zero."""
        stop = stop or threading.Event()
        self.start()
        assert self.relay is not None
        last_tick = 0.0
        try:
            while not stop.is_set():
                self.liveness.beat()
                try:
                    batch = self.consumer.poll(timeout_ms=200)
                except clients.UNRECOVERABLE:
                    raise
                except KafkaError as exc:
                    # kafka-python 3.0 lets a failed metadata refresh out of poll() while it
                    # looks for the group coordinator (coordinator/base.py); the broker is away.
                    metrics.KAFKA_ERRORS.labels(self.name, "poll").inc()
                    log.warning("%s: poll failed (%s: %s); polling again", self.name, type(exc).__name__, exc)
                    stop.wait(1.0)
                    batch = {}
                for tp, records in batch.items():
                    for record in records:
                        try:
                            self.handle(tp.topic, tp.partition, record.offset, record.key, record.value)
                        except Exception:
                            metrics.ERRORS.labels(self.name).inc()
                            raise
                    self.liveness.progressed(len(records))
                if time.monotonic() - last_tick >= self.settings.tick_seconds:
                    self.tick()
                    self._report_lag()
                    last_tick = time.monotonic()
                if self.relay.backlog() or self.relay.producer is None:
                    self.relay.publish()  # progress is counted per message (_published)
                backlog = self.relay.backlog()
                metrics.BACKLOG.labels(self.name).set(backlog)
                self.liveness.waiting(self.lag + backlog)
                if batch:
                    with contextlib.suppress(KafkaError):
                        self.consumer.commit_async()  # advisory, for lag; the store holds the truth
        finally:
            self.close()

    def _report_lag(self) -> None:
        """Lag per input partition, bounded by ACCORD_KAFKA_TIMEOUT; while Kafka does not
        answer, the last measurement stands."""
        try:
            ends = self.consumer.end_offsets(
                list(self.consumer.assignment()), timeout_ms=clients.timeout_ms(self.settings)
            )
            lags = {tp: max(0, end - self.consumer.position(tp, timeout_ms=1000)) for tp, end in ends.items()}
        except Exception:  # noqa: BLE001 - lag is best effort; never stop the step for it
            metrics.KAFKA_ERRORS.labels(self.name, "end_offsets").inc()
            return
        for tp, lag in lags.items():
            metrics.LAG.labels(self.name, tp.topic, str(tp.partition)).set(lag)
        self.lag = sum(lags.values())

    def close(self) -> None:
        # Each close is bounded; one that fails must not leave the other client open.
        if self.consumer is not None:
            with contextlib.suppress(KafkaError):
                self.consumer.close(autocommit=False)
            self.consumer = None
        if self.relay is not None:
            with contextlib.suppress(KafkaError):
                self.relay.close()
            self.relay = None


def _decode_input(topic: str, data: bytes | None, received_at: datetime | None = None) -> Input:
    """The submission, command or event a record of this topic carries (DecodeError if not).
    A new submission or command (`received_at` given) must carry plausible dates on that clock;
    events are the steps' own records and stored inputs were checked when they arrived."""
    kind = by_name(topic).carries
    return cast(Input, decode(MODELS[kind], data, received_at=received_at if kind != "event" else None))


def _type_of(message: Input | Message) -> str:
    if isinstance(message, Envelope):
        return message.event.type
    if isinstance(message, CommandEnvelope):
        return str(message.command.type)
    return type(message).__name__


def _time_of(message: Input) -> datetime | None:
    if isinstance(message, Envelope):
        return message.occurred_at
    if isinstance(message, CommandEnvelope):
        return message.issued_at
    if isinstance(message, ComplaintSubmission):
        return message.submitted_at
    return None


def _case_of(message: Input) -> str | None:
    return message.case_id if isinstance(message, Envelope | CommandEnvelope) else None


def _causation(message: Input) -> uuid.UUID | None:
    if isinstance(message, Envelope):
        return message.event_id
    if isinstance(message, CommandEnvelope):
        return message.command_id
    if isinstance(message, ComplaintSubmission):
        return submission_id(message)
    return None
