"""Each service's Kafka principal and its ACLs, derived from the step cores and the topic
declarations (services/principals.py), and the local cluster's layout (services/broker.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka.admin import ACLOperation, ACLResourcePatternType, ResourceType

from events.topics import ALL, COMMANDS, DEADLETTER, REJECTED, STEP_TOPICS, SUBMITTED
from services import broker, clients, principals
from services.settings import Settings
from services.steps.registry import NAMES, load

SETTINGS = Settings.from_env({})


def granted(service: str) -> set[tuple[str, str, str, str]]:
    """(resource type, name, pattern, operation) of every ACL the service's principal holds."""
    return {
        (
            acl.resource_pattern.resource_type.name,
            acl.resource_pattern.resource_name,
            acl.resource_pattern.pattern_type.name,
            acl.operation.name,
        )
        for acl in principals.service_acls(SETTINGS)[principals.principal(service)]
    }


def writes(service: str) -> set[str]:
    return {name for kind, name, _, op in granted(service) if kind == "TOPIC" and op == "WRITE"}


def reads(service: str) -> set[str]:
    return {name for kind, name, _, op in granted(service) if kind == "TOPIC" and op == "READ"}


def test_every_service_has_its_own_principal() -> None:
    acls = principals.service_acls(SETTINGS)
    assert set(acls) == {f"accord-{s}" for s in (*NAMES, "projections", "insights", "console", "gateway")}
    for name, held in acls.items():
        assert {acl.principal for acl in held} == {f"User:{name}"}


@pytest.mark.parametrize("step", NAMES)
def test_a_step_writes_only_its_own_topic_and_the_rejection_topic_of_its_inputs(step: str) -> None:
    core = load(step)
    expected = {STEP_TOPICS[step].name}  # type: ignore[index]
    expected |= {REJECTED.name} if SUBMITTED.name in core.inputs else set()
    expected |= {DEADLETTER.name} if set(core.inputs) - {SUBMITTED.name} else set()
    expected |= {topic.name for topic in core.forwards.values()}  # intake re-keys by customer
    assert writes(step) == expected


@pytest.mark.parametrize("step", NAMES)
def test_a_step_reads_only_its_inputs_and_its_own_topic(step: str) -> None:
    # its own topic: the relay commits its position on it inside the transaction (TxnOffsetCommit)
    assert reads(step) == {*load(step).inputs, STEP_TOPICS[step].name}  # type: ignore[index]


@pytest.mark.parametrize("step", NAMES)
def test_a_step_uses_only_its_own_groups_and_transactional_ids(step: str) -> None:
    others = {(kind, name, pattern) for kind, name, pattern, _ in granted(step) if kind != "TOPIC"}
    assert others == {
        ("GROUP", f"accord-{step}", "LITERAL"),
        ("GROUP", f"accord-relay-{step}-", "PREFIXED"),
        ("TRANSACTIONAL_ID", f"accord-{step}", "LITERAL"),
        ("TRANSACTIONAL_ID", f"accord-{step}-", "PREFIXED"),
    }
    assert {op for kind, _, _, op in granted(step) if kind == "GROUP"} == {"READ"}
    assert {op for kind, _, _, op in granted(step) if kind == "TRANSACTIONAL_ID"} == {"WRITE"}


def test_no_prefix_of_one_step_covers_anothers_names() -> None:
    for step in NAMES:
        for other in NAMES:
            if other != step:
                assert not f"accord-{other}".startswith(f"accord-{step}-")
                assert not f"accord-relay-{other}-".startswith(f"accord-relay-{step}-")


def test_no_service_may_create_delete_or_alter_a_declared_topic_or_anything_on_the_cluster() -> None:
    declared = {topic.name for topic in ALL}
    for service in principals.SERVICES:
        for kind, name, pattern, op in granted(service):
            assert kind != "CLUSTER"
            assert op not in ("DELETE", "ALTER", "ALTER_CONFIGS", "ALL")
            if op == "CREATE":
                assert pattern == "PREFIXED" and not any(t.startswith(name) for t in declared)


def test_the_web_services_only_publish() -> None:
    assert granted("console") == {("TOPIC", COMMANDS.name, "LITERAL", "WRITE")}
    assert writes("gateway") == {SUBMITTED.name, COMMANDS.name} and not reads("gateway")
    assert not writes("projections") and reads("projections") >= {t.name for t in STEP_TOPICS.values()}


def test_insights_writes_its_findings_and_owns_only_its_internal_topics() -> None:
    app = SETTINGS.insights_app_id
    assert writes("insights") == {"negotiation.insights", f"{app}-"}
    assert ("GROUP", app, "LITERAL", "READ") in granted("insights")
    assert ("TOPIC", f"{app}-", "PREFIXED", "CREATE") in granted("insights")


def test_operations_and_patterns_are_kafkas_own() -> None:
    for held in principals.service_acls(SETTINGS).values():
        for acl in held:
            assert acl.operation in ACLOperation and acl.resource_pattern.resource_type in ResourceType
            assert acl.resource_pattern.pattern_type in ACLResourcePatternType


# -- connecting as a service's own principal ---------------------------------------------------
def test_a_service_connects_as_its_own_principal_when_its_credentials_are_configured(tmp_path: Path) -> None:
    file = tmp_path / "services.json"
    file.write_text(json.dumps({"accord-intake": "pw-intake", "accord-contact": "pw-contact"}))
    env = {
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_USERNAME": "admin",
        "KAFKA_SASL_PASSWORD": "pw-admin",
        "ACCORD_KAFKA_CREDENTIALS": str(file),
    }
    operator = Settings.from_env(env)
    assert clients.connection(operator)["sasl_plain_username"] == "admin"
    intake = operator.as_service("intake")
    assert (
        clients.connection(intake)["sasl_plain_username"],
        clients.connection(intake)["sasl_plain_password"],
    ) == (
        "accord-intake",
        "pw-intake",
    )
    assert (
        clients.connection(Settings.from_env({**env, "ACCORD_SERVICE": "contact"}))["sasl_plain_username"]
        == "accord-contact"
    )
    # a service the file does not name connects as KAFKA_SASL_USERNAME; PLAINTEXT carries no user
    assert clients.connection(operator.as_service("gateway"))["sasl_plain_username"] == "admin"
    assert "sasl_plain_username" not in clients.connection(Settings.from_env({}).as_service("intake"))
    assert "pw-intake" not in repr(intake)


# -- the local cluster's layout ----------------------------------------------------------------
def test_one_node_is_laid_out_as_before() -> None:
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092", "ACCORD_DATA_DIR": "/d"})
    [node] = broker.nodes(settings)
    assert (node.id, node.port, node.controller_port, node.sasl_port) == (1, 19092, 19093, 19094)
    assert node.paths.home == Path("/d/kafka") and node.paths.pid == Path("/d/kafka/broker.pid")
    assert (settings.replication, settings.min_insync_replicas, settings.heap) == (1, 1, "512m")


def test_three_nodes_get_their_own_ports_and_directories_and_replication_follows() -> None:
    settings = Settings.from_env(
        {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:21092", "ACCORD_BROKER_NODES": "3", "ACCORD_DATA_DIR": "/d"}
    )
    cluster = broker.nodes(settings)
    assert [(n.id, n.port, n.controller_port, n.sasl_port) for n in cluster] == [
        (1, 21092, 21093, 21094),
        (2, 21102, 21103, 21104),
        (3, 21112, 21113, 21114),
    ]
    assert [n.paths.data for n in cluster] == [Path(f"/d/kafka/node-{i}/data") for i in (1, 2, 3)]
    assert len({n.paths.lock for n in cluster} | {n.paths.credentials for n in cluster}) == 2  # shared
    assert broker.bootstrap_servers(settings) == "127.0.0.1:21092,127.0.0.1:21102,127.0.0.1:21112"
    assert (settings.replication, settings.min_insync_replicas, settings.heap) == (3, 2, "384m")
    # the same cluster named by its addresses
    listed = Settings.from_env(
        {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers(settings), "ACCORD_DATA_DIR": "/d"}
    )
    assert broker.nodes(listed) == cluster and listed.replication == 3
    # an explicit replication factor wins
    assert (
        Settings.from_env(
            {"KAFKA_BOOTSTRAP_SERVERS": "a:1,b:2,c:3", "ACCORD_REPLICATION_FACTOR": "2"}
        ).replication
        == 2
    )
