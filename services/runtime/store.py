"""A step's own system of record, on the `eventsourcing` library's process recorder (SQLite
by default, PostgreSQL by URL). Each stream is one case (or, for intake, one customer); its
items are the inputs the step took in and the events it emitted, written in one transaction
with the position of the Kafka record consumed.

The Kafka runtime keeps one store per input partition number (`steps/<step>/p<N>.db`, or the
tables `<step>_p<N>_*` in PostgreSQL): all of a stream's inputs arrive on one partition number,
so the store moves with the partition from instance to instance, and instances never share a
writer lock. The in-process test bus keeps one store per step (`steps/<step>.db`)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    Notification,
    ProcessRecorder,
    StoredEvent,
    Tracking,
)
from eventsourcing.utils import Environment

from services.runtime.database import Database

# Kinds of stored item (the StoredEvent topic starts with one of these).
SEEN = "seen"  # an input the step took in: never published
EMIT = "emit"  # an event the step emitted: published to its topic by the relay
REJECT = "reject"  # an input that could not be accepted: published to the rejection topic
META = "meta"  # the store's own identity: never published
FORWARD = "fwd"  # an input re-keyed for the step's second stage: published to its internal topic


class Conflict(Exception):
    """The input was recorded already (same position) or the stream moved on: no effect."""


@dataclass(frozen=True)
class Item:
    """One stored item. The label keeps what the relay needs to publish without parsing."""

    kind: str
    topic: str  # Kafka topic it came from (seen) or goes to (emit, reject)
    type: str
    version: int
    key: str  # the Kafka key (case id); empty for rejections, whose data holds the original key
    data: bytes

    @property
    def label(self) -> str:
        return f"{self.kind}|{self.topic}|{self.type}|{self.version}|{self.key}"

    @classmethod
    def parse(cls, label: str, data: bytes) -> Item:
        kind, topic, type_name, version, key = label.split("|", 4)
        return cls(kind, topic, type_name, int(version), key, data)


def store_name(step: str, partition: int | None) -> str:
    """The store's name: its PostgreSQL table prefix (and, for SQLite, its file)."""
    base = step.replace("-", "_")
    return base if partition is None else f"{base}_p{partition}"


def _sqlite_file(data_dir: Path, step: str, partition: int | None) -> Path:
    folder = data_dir / "steps"
    return folder / f"{step}.db" if partition is None else folder / step / f"p{partition}.db"


@dataclass
class Pending:
    """What a batch recorded so far (StepStore.batch): written in one transaction at its end."""

    events: list[StoredEvent] = field(default_factory=list)
    streams: dict[str, list[StoredEvent]] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)  # source -> last offset

    def add(self, stored: Sequence[StoredEvent], position: Tracking | None) -> None:
        """Raises Conflict as the store would at the end: a stream version or a position taken."""
        for event in stored:
            written = self.streams.get(str(event.originator_id), ())
            if any(e.originator_version == event.originator_version for e in written):
                raise Conflict(f"{event.originator_id} v{event.originator_version} is in this batch already")
        if position is not None:
            source, offset = position.application_name, position.notification_id
            last = self.positions.get(source)
            if last is not None and last >= offset:
                raise Conflict(f"{source}@{offset} is in this batch already")
            self.positions[source] = offset
        for event in stored:
            self.events.append(event)
            self.streams.setdefault(str(event.originator_id), []).append(event)


class StepStore:
    def __init__(self, recorder: ProcessRecorder, step: str, partition: int | None = None) -> None:
        self.recorder = recorder
        self.step = step
        self.partition = partition
        self.pending: Pending | None = None  # inside batch()

    @classmethod
    def open(
        cls, step: str, data_dir: Path, database_url: str | None = None, partition: int | None = None
    ) -> StepStore:
        """The step's store of one partition number (None: its single store), made if new."""
        env = Environment(store_name(step, partition), {"ORIGINATOR_ID_TYPE": "text", "CREATE_TABLE": "y"})
        database = Database.parse(database_url)
        if database is not None:
            env.update(
                {
                    "PERSISTENCE_MODULE": "eventsourcing.postgres",
                    "POSTGRES_DBNAME": database.dbname,
                    "POSTGRES_HOST": database.host,
                    "POSTGRES_PORT": str(database.port),
                    "POSTGRES_USER": database.user,
                    "POSTGRES_PASSWORD": database.password,
                    # one connection per store: an instance holds a store per owned partition
                    "POSTGRES_POOL_SIZE": "1" if partition is not None else "2",
                    "POSTGRES_MAX_OVERFLOW": "1" if partition is not None else "2",
                }
            )
            if database.schema:
                database.ensure_schema()
                env["POSTGRES_SCHEMA"] = database.schema
        else:
            path = _sqlite_file(data_dir, step, partition)
            path.parent.mkdir(parents=True, exist_ok=True)
            env.update(
                {
                    "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(path),
                    "SQLITE_LOCK_TIMEOUT": "30",
                }
            )
        factory = InfrastructureFactory.construct(env)
        return cls(factory.process_recorder(), step, partition)

    @staticmethod
    def existing(step: str, data_dir: Path, database_url: str | None = None) -> list[int | None]:
        """The stores a step has (None: its single store), found without making any: what
        audit reads."""
        database = Database.parse(database_url)
        base = store_name(step, None)
        if database is None:
            found: list[int | None] = [None] if _sqlite_file(data_dir, step, None).exists() else []
            folder = data_dir / "steps" / step
            numbers = [
                int(m.group(1)) for f in folder.glob("p*.db") if (m := re.fullmatch(r"p(\d+)\.db", f.name))
            ]
            return found + sorted(numbers)
        with database.connect() as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            ).fetchall()
        names = {row[0] for row in rows}
        found = [None] if f"{base}_events" in names else []
        pattern = re.compile(rf"{re.escape(base)}_p(\d+)_events")
        return found + sorted(int(m.group(1)) for name in names if (m := pattern.fullmatch(name)))

    def close(self) -> None:
        """Release the store's connections (its partition moved to another instance)."""
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is not None:
            datastore.close()

    def stream(self, key: str, after: int = 0) -> list[tuple[int, Item]]:
        """(version, item) of a stream, oldest first (with what this batch recorded)."""
        stored = list(self.recorder.select_events(key, gt=after or None))
        if self.pending is not None:
            stored += [e for e in self.pending.streams.get(key, ()) if e.originator_version > after]
        return [(e.originator_version, Item.parse(e.topic, e.state)) for e in stored]

    def record(
        self,
        key: str,
        version: int,
        items: Sequence[Item],
        position: Tracking | None,
        claims: Sequence[tuple[str, Item]] = (),
    ) -> None:
        """Append items after `version` and, in the same transaction, the input's position and
        any claims (the first item of a stream of its own, e.g. a submission id's first body)."""
        stored = [
            StoredEvent(
                originator_id=key, originator_version=version + i + 1, topic=item.label, state=item.data
            )
            for i, item in enumerate(items)
        ] + [
            StoredEvent(originator_id=claim, originator_version=1, topic=item.label, state=item.data)
            for claim, item in claims
        ]
        if self.pending is not None:
            self.pending.add(stored, position)
            return
        try:
            if stored:
                self.recorder.insert_events(stored, tracking=position)
            elif position is not None:
                self.recorder.insert_tracking(position)
        except IntegrityError as exc:
            raise Conflict(str(exc)) from exc

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Everything recorded inside is written in one transaction at the end: one commit (one
        fsync) for a poll's inputs instead of one per input. Until then `stream`, `has` and
        `position` see it as written. Conflict at the end: nothing of the batch was written
        (the caller records its inputs again one at a time); any other exception inside: the
        batch is dropped."""
        if self.pending is not None:
            raise RuntimeError(f"{self.step}: a batch is open already")
        self.pending = Pending()
        try:
            yield
            pending = self.pending
            self.pending = None
            self._write(pending)
        finally:
            self.pending = None

    def _write(self, pending: Pending) -> None:
        """A recorder method of our own: eventsourcing's process recorder takes one tracking
        record per insert; this inserts a batch's events and the last position of each of its
        sources in one transaction, through the recorder's own statements (on PostgreSQL with
        its table lock and NOTIFY, `_insert_stored_events`; on SQLite `_insert_events`)."""
        positions = [Tracking(source, offset) for source, offset in pending.positions.items()]
        if not pending.events and not positions:
            return
        recorder = self.recorder
        insert = getattr(recorder, "_insert_stored_events", None) or recorder._insert_events  # type: ignore[attr-defined]
        try:
            with recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
                if pending.events:
                    insert(cursor, pending.events)
                for position in positions:
                    recorder._insert_tracking(cursor, position)  # type: ignore[attr-defined]
        except IntegrityError as exc:
            raise Conflict(str(exc)) from exc

    def identity(self) -> str:
        """A random id made when the store is created. The relay's Kafka-side position is kept
        per store identity, so a store rebuilt from scratch republishes everything (with the
        same event ids, which consumers ignore) instead of silently skipping it."""
        existing = self.stream("meta|store")
        if existing:
            return existing[0][1].data.decode()
        made = uuid.uuid4().hex[:12]
        try:
            self.record("meta|store", 0, [Item(META, "-", "StoreCreated", 1, "", made.encode())], None)
        except Conflict:
            return self.stream("meta|store")[0][1].data.decode()
        return made

    def has(self, position: Tracking) -> bool:
        """Whether this input position was recorded already: a redelivery, not a write conflict."""
        if self.pending is not None and self.pending.positions.get(position.application_name, -1) >= int(
            position.notification_id
        ):
            return True
        return bool(self.recorder.has_tracking_id(position.application_name, position.notification_id))

    def position(self, source: str) -> int | None:
        """The last Kafka offset recorded for a source (`topic:partition`)."""
        if self.pending is not None and source in self.pending.positions:
            return self.pending.positions[source]
        return self.recorder.max_tracking_id(source)

    def notifications(self, after: int, limit: int = 500) -> Sequence[Notification]:
        return self.recorder.select_notifications(after + 1, limit)

    def last_notification(self) -> int:
        return self.recorder.max_notification_id() or 0
