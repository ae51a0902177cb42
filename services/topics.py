"""Creates the topics declared in `events.topics` through the admin client. Idempotent:
existing topics are left as they are and reported."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kafka import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

from events.topics import ALL, Topic
from services import clients
from services.settings import Settings, min_insync_replicas


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
        replication = _replication(settings, admin)
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
                "replication_factor": replication,
                # Set on the topic, not left to the broker's default: RF 3 -> min ISR 2.
                "configs": {"min.insync.replicas": str(min_insync_replicas(replication)), **topic.config},
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


def _replication(settings: Settings, admin: KafkaAdminClient) -> int:
    """ACCORD_REPLICATION_FACTOR, else the node count up to 3: the settings' (one node per
    bootstrap address), or the cluster's own when it has more brokers (every registered one,
    alive or not: with one down, creating a topic fails rather than silently keeping fewer
    copies)."""
    if settings.replication_factor:
        return settings.replication_factor
    brokers = len(admin.describe_cluster().get("brokers", []))
    return min(3, max(settings.nodes, brokers))


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
