"""A step's own system of record, on the `eventsourcing` library's process recorder (SQLite
by default, PostgreSQL by URL). Each stream is one case (or, for intake, one customer); its
items are the inputs the step took in and the events it emitted, written in one transaction
with the position of the Kafka record consumed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
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


class StepStore:
    def __init__(self, recorder: ProcessRecorder, step: str) -> None:
        self.recorder = recorder
        self.step = step

    @classmethod
    def open(cls, step: str, data_dir: Path, database_url: str | None = None) -> StepStore:
        env = Environment(step, {"ORIGINATOR_ID_TYPE": "text", "CREATE_TABLE": "y"})
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
                    "POSTGRES_POOL_SIZE": "2",
                    "POSTGRES_MAX_OVERFLOW": "2",
                }
            )
            if database.schema:
                database.ensure_schema()
                env["POSTGRES_SCHEMA"] = database.schema
        else:
            folder = data_dir / "steps"
            folder.mkdir(parents=True, exist_ok=True)
            env.update(
                {
                    "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(folder / f"{step}.db"),
                    "SQLITE_LOCK_TIMEOUT": "30",
                }
            )
        factory = InfrastructureFactory.construct(env)
        return cls(factory.process_recorder(), step)

    def stream(self, key: str, after: int = 0) -> list[tuple[int, Item]]:
        """(version, item) of a stream, oldest first."""
        return [
            (stored.originator_version, Item.parse(stored.topic, stored.state))
            for stored in self.recorder.select_events(key, gt=after or None)
        ]

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
        try:
            if stored:
                self.recorder.insert_events(stored, tracking=position)
            elif position is not None:
                self.recorder.insert_tracking(position)
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

    def position(self, source: str) -> int | None:
        """The last Kafka offset recorded for a source (`topic:partition`)."""
        return self.recorder.max_tracking_id(source)

    def notifications(self, after: int, limit: int = 500) -> Sequence[Notification]:
        return self.recorder.select_notifications(after + 1, limit)

    def last_notification(self) -> int:
        return self.recorder.max_notification_id() or 0
