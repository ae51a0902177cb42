"""A step's inputs, one at a time, with no Kafka in sight: decode, dedupe, let the step's core
decide (services/steps/contract.py `process`), wrap what it emits in envelopes, and record
the input's position, the input and the new events in one store transaction. Redeliveries (same
offset, or the same input at a new offset) have no second effect; bad input is recorded as a
rejection and the stream goes on. The Kafka loop (loop.py) and the test bus both drive it."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from eventsourcing.persistence import Tracking

from events.base import Actor
from events.codec import DecodeError, content_hash, encode
from events.commands import CommandEnvelope
from events.common import CommandRejected
from events.envelope import Envelope
from events.identity import NAMESPACE
from events.personal import PersonalData, SealedPersonalData, has_personal
from events.submission import ComplaintSubmission
from events.topics import SUBMITTED, Topic, event_topic, rejection_topic
from services.rules.model import Rules
from services.runtime import metrics
from services.runtime.clock import Clock
from services.runtime.errors import INFRASTRUCTURE, Contended, StepError
from services.runtime.inputs import (
    Origin,
    causation_of,
    claim_key,
    content_of,
    customer_of,
    decode_input,
    identity_of,
    time_of,
    type_of,
)
from services.runtime.relay import forward, rejection, unwrap
from services.runtime.store import EMIT, FORWARD, META, REJECT, SEEN, Conflict, Item, StepStore
from services.runtime.watermark import Watermark
from services.steps.contract import Emit, Input, StepSpec, Tick, case_of, process

log = logging.getLogger("accord.loop")


ATTEMPTS = 3  # decisions on one input whose stream another writer moved on meanwhile

# One Kafka record as the loop hands it over: topic, partition, offset, key, value, headers.
Received = tuple[str, int, int, bytes | None, bytes | None, Sequence[tuple[str, bytes]]]


class Moved(Exception):
    """The stream was written by another writer since it was read (not a redelivery)."""


@dataclass
class Stream:
    """What the runtime knows of one stream: the step's own state plus bookkeeping."""

    core: Any
    version: int = 0
    seen: dict[str, str | None] = field(default_factory=dict)  # input id -> hash of its content
    chains: dict[str, tuple[int, str]] = field(default_factory=dict)  # case -> (seq, hash)
    last_time: datetime | None = None  # the latest time any of its inputs carried
    customer: str | None = None  # the customer its inputs named (goes into its envelopes)


class Sealer(Protocol):
    """Seals personal data with the customer's own key. The key store (services/privacy.py) is
    handed to the runtime by whoever builds it (services/bootstrap.py), so the runtime never
    imports it."""

    def seal(self, customer_id: str, personal: PersonalData) -> SealedPersonalData: ...
    def seal_submission(self, submission: ComplaintSubmission) -> ComplaintSubmission: ...


class Processor:
    """Runs one step's core over its inputs and timers, recording into its store."""

    def __init__(
        self,
        spec: StepSpec[Any],
        store: StepStore,
        *,
        rules: Rules,
        sealer: Sealer,
        clock: Clock,
        clock_mode: str = "wall",
        cache_size: int = 5000,
        on_recorded: Callable[[int], None] = lambda count: None,
    ) -> None:
        self.step = spec
        self.name = spec.name
        self.store = store
        self.rules = rules  # the core sees the policy settings, never the rest
        self.keys = sealer
        self.clock = clock
        self.clock_mode = clock_mode
        self.cache: OrderedDict[str, Stream] = OrderedDict()
        self.cache_size = cache_size
        self.timers: dict[str, datetime] = {}
        self.recorded = 0
        self.on_recorded = on_recorded
        self.watermark = Watermark(clock_mode)
        # Whether an input partition has been read to its end: the Kafka loop answers it; when
        # inputs are handed over by hand (tests), every input was handed over already.
        self.caught_up: Callable[[str], bool] = lambda partition: True
        # The state of the stream every decision reads (planning's reference data), if the step
        # has one: from this store, unless the step's runtime reads it from Kafka because another
        # partition's store holds it (services/runtime/table.py).
        self.shared: Callable[[], Any] = lambda: self.load(str(self.step.shared)).core
        self.forwards = spec.forwards  # a step that re-keys its inputs: source -> internal topic
        self.internal = {target.name for target in self.forwards.values()}

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

    def _fold(
        self, stream: Stream, items: list[tuple[int, Item]], decoded: Sequence[Input | None] = ()
    ) -> None:
        """Fold stored items into the stream; `decoded` holds, where known, each item's message
        as decided on or emitted (what decoding its data gives), so it is not parsed again."""
        for index, (version, item) in enumerate(items):
            stream.version = version
            if item.kind not in (SEEN, EMIT):
                continue
            message = decoded[index] if index < len(decoded) else None
            if message is None:
                message = decode_input(item.topic, item.data)
            at = time_of(message)
            if at is not None and (stream.last_time is None or at > stream.last_time):
                stream.last_time = at
            stream.customer = customer_of(message) or stream.customer
            if item.kind == SEEN:
                stream.seen[identity_of(message, item.data)[0]] = content_of(message)
            elif item.kind == EMIT:
                assert isinstance(message, Envelope)
                stream.chains[message.case_id] = (message.sequence, content_hash(item.data))
            stream.core = self.step.evolve(stream.core, message)

    # -- inputs ------------------------------------------------------------------------------
    def handle_batch(self, records: Sequence[Received]) -> None:
        """A poll's inputs for this store, recorded in one store transaction (StepStore.batch):
        each is decided on the state the ones before it left. If another writer took one of
        the batch's stream versions or positions meanwhile, nothing of the batch was written:
        its inputs are handled again one at a time, and each finds out on its own whether it
        was a redelivery or must be decided again on the stream as the other writer left it."""
        if len(records) == 1:
            self.handle(*records[0])
            return
        try:
            with self.store.batch():
                for record in records:
                    self.handle(*record)
        except Conflict:
            metrics.WRITE_CONFLICTS.labels(self.name).inc()
            self.cache.clear()  # it holds what the batch decided, which was not written
            for record in records:
                self.handle(*record)

    def handle(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> str:
        """Process one Kafka record; returns what happened (for tests and logs). No input,
        whatever its bytes or values, raises: it is rejected with the reason instead. Only a
        failure of the store, the key store or the broker propagates (the process then exits
        and reads the input again after its restart)."""
        position = Tracking(f"{topic}:{partition}", offset)
        origin = Origin(topic, partition, offset, key, value, self._cause(topic, headers))
        metrics.CONSUMED.labels(self.name, topic).inc()
        stream_key: str | None = None
        phase = "decode"
        try:
            message = decode_input(topic, value, self.clock.now())
            self.watermark.saw(f"{topic}:{partition}", time_of(message))
            phase = "route"
            if not self.step.interested(message):
                return "skipped"
            target = self.forwards.get(topic)
            if target is not None:
                phase = "forward"
                return self._forward(message, origin, position, target)
            stream_key = self.step.route(message)
            if stream_key is None:
                return "skipped"
            started = time.perf_counter()
            for _ in range(ATTEMPTS):
                phase = "fold the history of"
                stream = self.load(stream_key)
                phase = "decide on"
                try:
                    outcome = self._accept(stream_key, stream, message, origin, position)
                except Moved:
                    continue  # decide again on the stream as the other writer left it
                metrics.LATENCY.labels(self.name).observe(time.perf_counter() - started)
                return outcome
            raise Contended(
                f"{self.name}: stream {stream_key} kept changing under another writer "
                f"({ATTEMPTS} attempts at {topic}[{partition}]@{offset})"
            )
        except DecodeError as exc:
            if phase == "decode":  # the input's own bytes; later, a stored record: a step error
                return self._reject(origin, exc.reason, exc.field, position)
            return self._step_error(stream_key, phase, exc, origin, position)
        except INFRASTRUCTURE:
            raise
        except Exception as exc:  # noqa: BLE001 - one input must never stop the step
            return self._step_error(stream_key, phase, exc, origin, position)

    def _step_error(
        self, stream_key: str | None, phase: str, exc: Exception, origin: Origin, position: Tracking
    ) -> str:
        if stream_key is not None:
            self.cache.pop(stream_key, None)  # its cached state may be half-updated
        error = StepError(self.name, phase, exc)
        metrics.STEP_ERRORS.labels(self.name, origin.topic).inc()
        log.error(
            "%s: %s at %s[%d]@%d", self.name, error.reason, origin.topic, origin.partition, origin.offset
        )
        return self._reject(origin, error.reason, None, position, "step-error")

    def _accept(
        self, stream_key: str, stream: Stream, message: Input, origin: Origin, position: Tracking
    ) -> str:
        topic, raw = origin.topic, origin.value or b""
        identity, correlation, cause_hash = identity_of(message, raw)
        cause_hash = origin.cause_hash or cause_hash  # a forwarded input: the bytes it arrived with
        message, kept = self._sealed(message, raw)
        content = content_of(message)
        claims: list[tuple[str, Item]] = []
        if isinstance(message, ComplaintSubmission) and topic == SUBMITTED.name:
            # A submission id is unique per channel across every customer, so its first body is
            # claimed in a stream of its own: the customer streams cannot see each other.
            claimed = self.store.stream(claim_key(identity))
            if claimed:
                first = claimed[0][1].data.decode()
                return self._duplicate(position) if first == content else self._conflict(origin, position)
            claims.append(
                (claim_key(identity), Item(META, topic, "SubmissionClaimed", 1, "", str(content).encode()))
            )
        if identity in stream.seen:
            if content is not None and stream.seen[identity] not in (None, content):
                return self._conflict(origin, position)
            return self._duplicate(position)
        seen = Item(SEEN, topic, type_of(message), 1, "", kept)
        return self._decide_and_record(
            stream_key,
            stream,
            message,
            seen,
            position,
            correlation=correlation,
            causation=causation_of(message),
            cause_hash=cause_hash,
            claims=claims,
        )

    def _forward(self, message: Input, origin: Origin, position: Tracking, target: Topic) -> str:
        """The first stage of a step that re-keys its inputs (StepSpec.rekey): the input's id
        is claimed (a redelivery is dropped, the same id with other content is a conflict),
        personal data sent in the clear is sealed, and the input is recorded, with its
        position, for the relay to put on the internal topic under its new key."""
        raw = origin.value or b""
        if isinstance(message, ComplaintSubmission) and origin.key != message.submission_id.encode():
            # Its id is claimed in the store of the partition it arrives on: only if every copy
            # of a submission id arrives on one partition is the same id with other content
            # seen as a conflict (SUBMITTED's contract: keyed by submission id).
            reason = "the record's key must be its submission_id (every copy of it must reach one partition)"
            return self._reject(origin, reason, "key", position)
        identity, _, cause_hash = identity_of(message, raw)
        message, kept = self._sealed(message, raw)
        assert self.step.rekey is not None
        key = self.step.rekey(message)
        if key is None:
            return "skipped"
        content = content_of(message)
        claim = f"meta|forward|{identity}"
        for _ in range(ATTEMPTS):
            claimed = self.store.stream(claim)
            if claimed:
                first = content_of(decode_input(origin.topic, unwrap(claimed[0][1].data)[1]))
                return self._duplicate(position) if first == content else self._conflict(origin, position)
            data = forward(kept, key, type_of(message), cause_hash)
            item = Item(FORWARD, target.name, type_of(message), 1, key, data)
            try:
                self.store.record(claim, 0, [item], position)
            except Conflict:
                if self.store.has(position):
                    metrics.DUPLICATES.labels(self.name).inc()
                    return "duplicate"
                metrics.WRITE_CONFLICTS.labels(self.name).inc()
                continue  # claimed by another writer meanwhile: look again
            self._count_recorded()
            return "forwarded"
        raise Contended(f"{self.name}: the claim {claim} kept changing under another writer")

    def _cause(self, topic: str, headers: Sequence[tuple[str, bytes]]) -> str | None:
        """The hash an input arrived with, as its first stage forwarded it (internal topics only)."""
        if not headers or topic not in self.internal:
            return None
        return next((value.decode() for name, value in headers if name == "cause-hash"), None)

    def _duplicate(self, position: Tracking) -> str:
        metrics.DUPLICATES.labels(self.name).inc()
        with contextlib.suppress(Conflict):
            self.store.record("", 0, [], position)
        return "duplicate"

    def _conflict(self, origin: Origin, position: Tracking) -> str:
        kind = "submission" if origin.topic == SUBMITTED.name else "command"
        field = "submission_id" if kind == "submission" else "command_id"
        reason = f"conflict: this {field} was already used for a different {kind}; the first one stands"
        return self._reject(origin, reason, field, position, "conflict")

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
        if self.clock_mode != "message":
            return self.clock.now()
        return time_of(message) or self.clock.now()

    def tick(self, now: datetime | None = None) -> int:
        """Let every stream whose timer is due decide what the passing of time means. Without
        an explicit `now`, time is the watermark of the inputs (services/runtime/watermark.py):
        a timer never fires while an input that was on a topic before it fell due is unread.
        With ACCORD_CLOCK=message a stream's time is also capped by the latest time its own
        inputs carried, so a replay fires a case's timers only when its own history passes them."""
        per_stream = now is None and self.clock_mode == "message"
        if now is None:
            mark = self.watermark.value(self.clock.now(), self.caught_up)
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
            try:
                self._decide_and_record(key, stream, Tick(stream_now), None, None, now=stream_now)
            except Moved:
                continue  # another writer got there first; the next tick sees what it recorded
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
        shared = None
        if self.step.shared is not None and key != self.step.shared:
            shared = self.shared()  # e.g. planning's reference data
        _, emits = process(self.step, stream.core, message, now, self.rules, shared)
        items: list[Item] = [seen] if seen is not None else []
        decoded: list[Input | None] = [message] if seen is not None else []
        for envelope, item in self._envelopes(
            key, stream, message, emits, now, correlation, causation, cause_hash
        ):
            items.append(item)
            decoded.append(envelope)
        if not items:
            return "no-op"
        try:
            self.store.record(key, stream.version, items, position, claims or ())
        except Conflict:
            self.cache.pop(key, None)  # stale either way: the next read reloads it
            if position is not None and self.store.has(position):
                # This input was recorded before (a redelivery, by this or an earlier owner).
                metrics.DUPLICATES.labels(self.name).inc()
                return "duplicate"
            # Not a redelivery: another writer (the partition's previous owner, finishing)
            # moved the stream on. The input is decided again on the stream as it now stands.
            metrics.WRITE_CONFLICTS.labels(self.name).inc()
            raise Moved(key) from None
        self._fold(stream, [(stream.version + i + 1, item) for i, item in enumerate(items)], decoded)
        self._count_recorded()
        for emit in emits:
            metrics.EMITTED.labels(self.name, type(emit.event).__name__).inc()
            if isinstance(emit.event, CommandRejected):
                metrics.COMMANDS_REFUSED.labels(self.name, emit.event.command_type).inc()
        self.set_timer(key, stream)
        return "recorded" if emits else "noted"

    def _envelopes(
        self,
        key: str,
        stream: Stream,
        message: Input,
        emits: list[Emit],
        now: datetime,
        correlation: uuid.UUID | None,
        causation: uuid.UUID | None,
        cause_hash: str | None,
    ) -> list[tuple[Envelope, Item]]:
        """Each emitted event in its envelope (and its stored item): a stable id, the case's next
        sequence number and hash link, the actor, and personal data sealed for the customer."""
        actor_default = (
            message.actor if isinstance(message, CommandEnvelope) else Actor(kind="system", id=self.name)
        )
        customer = customer_of(message) or stream.customer
        chains = dict(stream.chains)
        items: list[tuple[Envelope, Item]] = []
        topic = event_topic(self.name).name
        for index, emit in enumerate(emits):
            # A timer's stream key is its case id (steps with timers keep one stream per case).
            case_id = emit.case_id or case_of(message) or (key if isinstance(message, Tick) else None)
            if case_id is None:
                raise ValueError(f"{self.name}: emitted {type(emit.event).__name__} without a case")
            sequence, previous = chains.get(case_id, (0, None))
            customer_id = getattr(emit.event, "customer_id", None) or customer
            envelope = Envelope(
                event_id=uuid.uuid5(NAMESPACE, f"{self.name}|{key}|{stream.version}|{index}"),
                case_id=case_id,
                occurred_at=now,
                step=self.name,
                sequence=sequence + 1,
                correlation_id=correlation or uuid.uuid5(NAMESPACE, f"case|{case_id}"),
                causation_id=causation,
                actor=emit.actor or actor_default,
                customer_id=customer_id,
                prev_hash=previous,
                cause_hash=cause_hash,
                personal=self._seal(emit.personal, customer_id),
                event=cast(Any, emit.event),  # any registered event type (checked on validation)
            )
            data = encode(envelope)
            chains[case_id] = (sequence + 1, content_hash(data))
            item = Item(EMIT, topic, type_of(envelope), envelope.event.schema_version, case_id, data)
            items.append((envelope, item))
        return items

    def _count_recorded(self) -> None:
        self.recorded += 1
        self.on_recorded(self.recorded)

    def set_timer(self, key: str, stream: Stream) -> None:
        if self.step.next_due is None:
            return
        due = self.step.next_due(stream.core)
        if due is None:
            self.timers.pop(key, None)
        else:
            self.timers[key] = due

    def _reject(
        self, origin: Origin, reason: str, field: str | None, position: Tracking, kind: str = "bad-input"
    ) -> str:
        """Record the input as rejected (original bytes and the reason) for the relay to put on
        `complaints.rejected` or `accord.deadletter`, and move on past it."""
        topic, partition, offset, key, value, _ = origin
        target = rejection_topic(topic)
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

    def rebuild_timers(self, beat: Callable[[], None] = lambda: None) -> None:
        """Find the open timers after a restart: one pass over the step's own history."""
        if self.step.next_due is None:
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
            beat()  # a long history to scan is no hang
        for key in keys:
            stream = Stream(core=self.step.initial())
            self._fold(stream, self.store.stream(key))
            self.set_timer(key, stream)
