"""`accord topics create` against the real broker."""

from __future__ import annotations

from kafka.admin import ConfigResource, ConfigResourceType

from events.topics import ALL, KEEP_FOREVER, Topic
from services import clients, topics


def test_creating_the_topics_twice_is_harmless(settings, unique) -> None:
    declared = [
        Topic(unique(n), "t", key="case id", carries="event", config=KEEP_FOREVER) for n in ("a", "b")
    ]
    assert topics.create(settings, declared, partitions=2) == [t.name for t in declared]
    assert topics.create(settings, declared, partitions=2) == []
    admin = clients.admin(settings)
    try:
        described = {t["name"]: t for t in admin.describe_topics([t.name for t in declared])}
        assert {name: len(t["partitions"]) for name, t in described.items()} == {
            declared[0].name: 2,
            declared[1].name: 2,
        }
    finally:
        admin.close()


def test_the_public_topics_exist_and_keep_everything(settings) -> None:
    topics.create(settings)
    admin = clients.admin(settings)
    try:
        result = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t.name) for t in ALL])
    finally:
        admin.close()
    for topic in ALL:
        config = result["topic"][topic.name]
        assert config["retention.ms"]["value"] == "-1", topic.name
        assert config["retention.bytes"]["value"] == "-1", topic.name
