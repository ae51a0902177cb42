"""Creates the topics declared in `events.topics` through the admin client. Idempotent:
existing topics are left as they are and reported."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kafka.errors import TopicAlreadyExistsError

from events.topics import ALL, Topic
from services import clients
from services.settings import Settings


def create(
    settings: Settings,
    topics: Iterable[Topic] = ALL,
    *,
    partitions: int | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Create every topic that does not exist yet; return the names created."""
    topics = list(topics)
    count = partitions or settings.partitions
    admin = clients.admin(settings)
    try:
        existing = set(admin.list_topics())
        missing = [topic for topic in topics if topic.name not in existing]
        for topic in topics:
            if topic.name in existing:
                log(f"  exists   {topic.name}")
        if not missing:
            return []
        spec = {
            topic.name: {
                "num_partitions": count,
                "replication_factor": settings.replication,
                # Set on the topic, not left to the broker's default: RF 3 -> min ISR 2.
                "configs": {"min.insync.replicas": str(settings.min_insync_replicas), **topic.config},
            }
            for topic in missing
        }
        created: list[str] = []
        # One request per topic so that a topic created concurrently by someone else does not
        # fail the others.
        for name, options in spec.items():
            try:
                admin.create_topics({name: options}, wait_for_metadata=True)
                created.append(name)
                log(f"  created  {name} ({count} partitions)")
            except TopicAlreadyExistsError:
                log(f"  exists   {name}")
        return created
    finally:
        admin.close()


def describe(settings: Settings) -> dict[str, int]:
    """Partition count of every Accord topic that exists."""
    admin = clients.admin(settings)
    try:
        names = {topic.name for topic in ALL}
        return {
            info["name"]: len(info["partitions"])
            for info in admin.describe_topics([t for t in names if t in set(admin.list_topics())])
        }
    finally:
        admin.close()
