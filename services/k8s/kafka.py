"""The Strimzi side of the Kubernetes deployment, from the registries: the KRaft cluster and its
node pools, a KafkaTopic per declared topic (events/topics.py), and a KafkaUser per service with
only the ACLs that service's code uses (its inputs, its topic, its groups, its transactional ids)."""

from __future__ import annotations

from typing import Any

from events.topics import (
    ALL,
    COMMANDS,
    EVENT_TOPICS,
    SUBMITTED,
)
from events.topics import Topic as Declared
from services import principals
from services.principals import Access
from services.settings import Settings

STRIMZI = "1.2.0"
# The newest Kafka Strimzi 1.2.0 runs (its kafka-versions.yaml, kept beside the CRDs). Accord's
# local broker is 4.4.0, which no Strimzi release supports yet; the clients speak to both.
KAFKA_VERSION = "4.3.1"
METADATA_VERSION = "4.3-IV0"
CLUSTER = "accord"
API = "kafka.strimzi.io/v1"
BOOTSTRAP = f"{CLUSTER}-kafka-bootstrap:9093"  # the Service Strimzi creates for the TLS listener
CA_SECRET = f"{CLUSTER}-cluster-ca-cert"  # the cluster CA Strimzi creates, key ca.crt
REPLICAS = 3  # brokers, controllers and every topic's replication factor
MIN_ISR = 2


def _meta(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "labels": {"strimzi.io/cluster": CLUSTER, **labels}}


def cluster(broker_storage: str = "100Gi", controller_storage: str = "20Gi") -> list[dict[str, Any]]:
    """Three KRaft controllers and three brokers (separate pools, so each can be sized and rolled
    on its own), RF 3 and min ISR 2 everywhere, including the transaction state log."""

    def pool(name: str, size: str) -> dict[str, Any]:
        volume = {
            "id": 0,
            "type": "persistent-claim",
            "size": size,
            "deleteClaim": False,
            "kraftMetadata": "shared",
        }
        return {
            "apiVersion": API,
            "kind": "KafkaNodePool",
            "metadata": _meta(name),
            "spec": {"replicas": REPLICAS, "roles": [name], "storage": {"type": "jbod", "volumes": [volume]}},
        }

    kafka = {
        "apiVersion": API,
        "kind": "Kafka",
        "metadata": {"name": CLUSTER},
        "spec": {
            "kafka": {
                "version": KAFKA_VERSION,
                "metadataVersion": METADATA_VERSION,
                # One listener: TLS with SCRAM-SHA-512, so every client is a named principal.
                "listeners": [
                    {
                        "name": "tls",
                        "port": 9093,
                        "type": "internal",
                        "tls": True,
                        "authentication": {"type": "scram-sha-512"},
                    }
                ],
                "authorization": {"type": "simple"},
                "config": {
                    "default.replication.factor": REPLICAS,
                    "min.insync.replicas": MIN_ISR,
                    "offsets.topic.replication.factor": REPLICAS,
                    "transaction.state.log.replication.factor": REPLICAS,
                    "transaction.state.log.min.isr": MIN_ISR,
                    "unclean.leader.election.enable": False,
                    # Topics are KafkaTopic resources; a typo in a client must not create one.
                    "auto.create.topics.enable": False,
                },
            },
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
        },
    }
    return [pool("controller", controller_storage), pool("broker", broker_storage), kafka]


def resource_name(topic: str) -> str:
    """A Kubernetes name for a topic (the topic's own name goes in spec.topicName)."""
    return topic.replace(".", "-").replace("_", "-").lower()


def topic(declared: Declared, partitions: int) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "KafkaTopic",
        "metadata": _meta(resource_name(declared.name)),
        "spec": {
            "topicName": declared.name,
            "partitions": partitions,
            "replicas": REPLICAS,
            "config": {**declared.config, "min.insync.replicas": str(MIN_ISR)},
        },
    }


def topics(partitions: int = Settings().partitions) -> list[dict[str, Any]]:
    return [topic(t, partitions) for t in ALL]


def access() -> list[Access]:
    """Every service's principal (named `accord-<service>`), as the local cluster grants them
    (services/principals.py, one table for both), and the read-only auditor's."""
    return [
        *principals.accesses(Settings()),
        # docs/security.md: reads the histories and the relays' committed positions, writes nothing
        Access(
            "audit",
            reads=(SUBMITTED.name, COMMANDS.name, *(t.name for t in EVENT_TOPICS.values())),
            describes_groups=("accord-relay-",),
        ),
    ]


def _acl(kind: str, name: str, operations: list[str]) -> dict[str, Any]:
    pattern = "prefix" if name.endswith("-") else "literal"
    return {"resource": {"type": kind, "name": name, "patternType": pattern}, "operations": operations}


def acls(a: Access) -> list[dict[str, Any]]:
    """Strimzi's form of the access: READ and WRITE as they are (each implies DESCRIBE)."""
    out = [_acl("topic", t, ["Read", "Describe"]) for t in dict.fromkeys(a.reads) if t not in a.writes]
    out += [
        _acl("topic", t, ["Read", "Write", "Describe"] if t in a.reads else ["Write", "Describe"])
        for t in dict.fromkeys(a.writes)
    ]
    out += [_acl("group", g, ["Read"]) for g in a.groups]
    out += [_acl("group", g, ["Describe"]) for g in a.describes_groups]
    out += [_acl("transactionalId", t, ["Write", "Describe"]) for t in a.transactional_ids]
    out += [_acl("topic", t, ["Create", "Read", "Write", "Describe", "DescribeConfigs"]) for t in a.owns]
    return out


def user_name(service: str) -> str:
    return principals.principal(service)


def users() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": API,
            "kind": "KafkaUser",
            "metadata": _meta(user_name(a.service)),
            "spec": {
                "authentication": {"type": "scram-sha-512"},
                "authorization": {"type": "simple", "acls": acls(a)},
            },
        }
        for a in access()
    ]
