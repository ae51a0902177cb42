"""The Kubernetes manifests (deploy/k8s/) are generated from the registries, committed as
generated, valid against Kubernetes' and Strimzi's own schemas, and give every service only the
Kafka rights its code uses."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from events import registry as emitters
from events.base import Message
from events.intake import ComplaintRegistered
from events.topics import ALL, DEADLETTER, KEEP_FOREVER, REJECTED, STEP_TOPICS, SUBMITTED, Topic
from services import k8s, settings
from services.k8s import kafka, validate, workloads
from services.runtime.metrics import PORTS
from services.steps import registry
from services.steps.contract import StepSpec


def manifests(name: str) -> list[dict[str, Any]]:
    return k8s.documents(k8s.OUT / name)


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    found = [d for name in k8s.parts() for d in manifests(name) if d["kind"] == kind]
    return {d["metadata"]["name"]: d for d in found}


def test_the_committed_manifests_match_the_generator() -> None:
    stale = [str(p.relative_to(k8s.ROOT)) for p in k8s.stale()]
    assert stale == [], f"run `accord deploy k8s write`: {stale}"


def test_every_manifest_passes_the_kubernetes_and_strimzi_schemas() -> None:
    assert [str(p) for p in validate.validate_all()] == []


def test_a_misspelled_field_in_a_kafka_topic_is_refused_by_its_name() -> None:
    topic = copy.deepcopy(kafka.topics()[0])
    topic["spec"]["partitionz"] = topic["spec"].pop("partitions")
    problems = [str(p) for p in validate.validate(topic, "topics.yaml")]
    assert problems == [
        "topics.yaml: KafkaTopic/complaints-submitted: spec: Additional properties are not allowed "
        "('partitionz' was unexpected)"
    ]


def test_a_deployment_without_a_selector_is_refused_by_each_kubernetes_version() -> None:
    deployment = copy.deepcopy(of_kind("Deployment")["accord-intake"])
    del deployment["spec"]["selector"]
    problems = [str(p) for p in validate.validate(deployment)]
    assert problems == [
        f"<manifest>: Deployment/accord-intake: spec: 'selector' is a required property (Kubernetes {v})"
        for v in validate.KUBERNETES
    ]


def test_a_misspelled_field_deep_in_a_pod_template_is_refused_where_it_is() -> None:
    deployment = copy.deepcopy(of_kind("Deployment")["accord-sla"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/"
    problems = validate.validate(deployment)
    assert {p.where for p in problems} == {"spec.template.spec.containers[0].livenessProbe.httpGet"}
    assert all("'paht' was unexpected" in p.message for p in problems)


def test_a_value_strimzi_does_not_know_and_a_misspelled_label_field_are_refused() -> None:
    user = copy.deepcopy(of_kind("KafkaUser")["accord-contact"])
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Reed"]
    user["metadata"]["lables"] = user["metadata"].pop("labels")
    where = {p.where: p.message for p in validate.validate(user)}
    assert "'Reed' is not one of" in where["spec.authorization.acls[0].operations[0]"]
    assert "'lables' was unexpected" in where["metadata"]


def test_an_api_version_the_pinned_strimzi_no_longer_serves_is_refused() -> None:
    topic = copy.deepcopy(kafka.topics()[0])
    topic["apiVersion"] = "kafka.strimzi.io/v1beta2"  # removed in Strimzi 1.0
    (problem,) = validate.validate(topic)
    assert (
        problem.where == "apiVersion" and "serves no kafka.strimzi.io/v1beta2 KafkaTopic" in problem.message
    )


def test_a_broken_file_fails_the_check_naming_the_file_and_the_resource(tmp_path: Path) -> None:
    k8s.write(tmp_path)
    path = tmp_path / "accord.yaml"
    docs = k8s.documents(path)
    del next(d for d in docs if d["kind"] == "Deployment")["spec"]["selector"]
    path.write_text(yaml.safe_dump_all(docs))
    problems = validate.validate_all(tmp_path)
    assert problems and {(p.kind, p.name) for p in problems} == {("Deployment", "accord-intake")}
    assert str(problems[0]).startswith(f"{path}: Deployment/accord-intake: spec: 'selector'")
    assert k8s.stale(tmp_path) == [path]


def test_a_kafka_version_the_pinned_strimzi_does_not_run_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert validate.kafka_version() == []
    monkeypatch.setattr(validate, "KAFKA_VERSION", "4.4.0")  # Accord's local broker
    (problem,) = validate.kafka_version()
    assert "Strimzi 1.2.0 does not run Kafka 4.4.0" in problem.message and "'4.3.1'" in problem.message


def test_quantities_are_held_to_strimzis_schema_as_the_api_server_holds_them() -> None:
    pool = copy.deepcopy(of_kind("KafkaNodePool")["broker"])
    pool["spec"]["resources"] = {"requests": {"cpu": 2, "memory": "8Gi"}}  # int or string
    assert validate.validate(pool) == []
    pool["spec"]["resources"] = {"requests": {"cpu": 2, "memory": "8 gigs"}}
    (problem,) = validate.validate(pool)
    assert problem.where == "spec.resources.requests.memory"


def test_a_newly_declared_topic_gets_its_kafka_topic_without_an_edit(monkeypatch: pytest.MonkeyPatch) -> None:
    new = Topic(
        "negotiation.review", "Events of a review step.", key="case id", carries="event", config=KEEP_FOREVER
    )
    monkeypatch.setattr(kafka, "ALL", (*ALL, new))
    (generated,) = [t for t in kafka.topics() if t["spec"]["topicName"] == "negotiation.review"]
    assert generated["metadata"]["name"] == "negotiation-review" and validate.validate(generated) == []


class FollowUpBooked(Message):
    """A follow-up call, booked once a complaint is registered (a step this test adds)."""

    type: Literal["FollowUpBooked"] = "FollowUpBooked"
    schema_version: Literal[1] = 1


@pytest.fixture
def followup() -> Iterator[str]:
    spec = StepSpec(
        name="followup",
        port=10,
        consumes=(ComplaintRegistered,),
        initial=dict,
        evolve=lambda state, message: state,
        decide=lambda state, message, now, rules: [],
    )
    emitters.register("followup", (FollowUpBooked,))
    registry.register(spec)
    try:
        yield spec.name
    finally:
        registry.unregister("followup")
        emitters.unregister("followup")


def test_a_newly_registered_step_gets_its_topic_principal_deployment_and_scrape_target(followup: str) -> None:
    generated = {(d["kind"], d["metadata"]["name"]): d for part in k8s.parts().values() for d in part()}
    assert ("KafkaTopic", "negotiation-followup") in generated
    user = rights(generated[("KafkaUser", "accord-followup")])
    assert {n for kind, n, _, op in user if kind == "topic" and op == "Write"} == {
        "negotiation.followup",
        DEADLETTER.name,
    }
    assert {n for kind, n, _, op in user if kind == "topic" and op == "Read"} == {
        "negotiation.intake",
        "negotiation.followup",
    }
    deployment = generated[("Deployment", "accord-followup")]
    assert deployment["spec"]["replicas"] == workloads.STEP_REPLICAS
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["ports"][0]["containerPort"] == settings.Settings().metrics_port + 10
    scrape = yaml.safe_load(generated[("ConfigMap", "accord-prometheus")]["data"]["prometheus.yml"])
    assert {"names": ["accord-followup-metrics"], "type": "A", "port": 9410} in scrape["scrape_configs"][0][
        "dns_sd_configs"
    ]
    assert [str(p) for d in generated.values() for p in validate.validate(d)] == []


def test_the_cluster_is_kraft_with_three_brokers_and_replicated_transactions() -> None:
    pools = of_kind("KafkaNodePool")
    assert {n: (p["spec"]["roles"], p["spec"]["replicas"]) for n, p in pools.items()} == {
        "controller": (["controller"], 3),
        "broker": (["broker"], 3),
    }
    config = of_kind("Kafka")["accord"]["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["transaction.state.log.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    assert config["offsets.topic.replication.factor"] == 3


def test_every_declared_topic_has_a_kafka_topic_that_keeps_everything() -> None:
    topics = {t["spec"]["topicName"]: t["spec"] for t in of_kind("KafkaTopic").values()}
    assert set(topics) == {t.name for t in ALL}
    for declared in ALL:
        spec = topics[declared.name]
        assert spec["replicas"] == 3 and spec["partitions"] == settings.Settings().partitions
        assert spec["config"]["retention.ms"] == "-1" and spec["config"]["retention.bytes"] == "-1"
        assert declared.config.items() <= spec["config"].items()


def rights(user: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {
        (acl["resource"]["type"], acl["resource"]["name"], acl["resource"]["patternType"], op)
        for acl in user["spec"]["authorization"]["acls"]
        for op in acl["operations"]
    }


def test_each_step_writes_only_its_own_topic_and_the_rejection_topics_it_uses() -> None:
    users = of_kind("KafkaUser")
    for name in registry.names():
        inputs = registry.spec(name).inputs
        own = STEP_TOPICS[name].name
        granted = rights(users[f"accord-{name}"])
        written = {n for kind, n, _, op in granted if kind == "topic" and op == "Write"}
        rejects = {REJECTED.name} if SUBMITTED.name in inputs else set()
        assert written == {own, DEADLETTER.name} | rejects, name
        assert {n for kind, n, _, op in granted if kind == "topic" and op == "Read"} == {*inputs, own}
        assert {(n, p) for kind, n, p, _ in granted if kind == "group"} == {
            (f"accord-{name}", "literal"),
            (f"accord-relay-{name}-", "prefix"),
        }
        assert {(n, p) for kind, n, p, _ in granted if kind == "transactionalId"} == {
            (f"accord-{name}", "literal"),
            (f"accord-{name}-", "prefix"),
        }
        assert not {op for *_, op in granted} & {"All", "Create", "Delete", "Alter", "AlterConfigs"}
        assert not [g for g in granted if g[0] == "cluster" or (g[0] == "topic" and g[2] != "literal")]


def test_only_insights_creates_topics_under_its_own_id_and_the_auditor_only_reads() -> None:
    users = of_kind("KafkaUser")
    creators = {n for n, u in users.items() if any(op == "Create" for *_, op in rights(u))}
    assert creators == {"accord-insights"}
    assert {g for g in rights(users["accord-insights"]) if g[3] == "Create"} == {
        ("topic", "accord-insights-", "prefix", "Create")
    }
    assert {op for *_, op in rights(users["accord-audit"])} == {"Read", "Describe"}
    assert {(k, op) for k, _, _, op in rights(users["accord-audit"]) if k == "group"} == {
        ("group", "Describe")
    }
    assert {op for *_, op in rights(users["accord-projections"])} == {"Read", "Describe"}


def containers() -> dict[str, dict[str, Any]]:
    return {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"][
            "spec"
        ]["containers"][0]
        for d in of_kind("Deployment").values()
    }


def test_every_service_runs_probed_on_the_health_of_its_metrics_port() -> None:
    running = containers()
    assert set(running) == set(PORTS)
    deployments = of_kind("Deployment")
    for service, c in running.items():
        assert c["args"] == ["run", service]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["metrics"] == settings.Settings().metrics_port + PORTS[service]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert c[probe]["httpGet"] == {"path": "/health", "port": "metrics"}
        replicas = deployments[f"accord-{service}"]["spec"]["replicas"]
        assert replicas == (workloads.STEP_REPLICAS if service in registry.names() else 1), service


def test_every_service_connects_as_its_own_principal_with_settings_accord_reads() -> None:
    names = of_kind("KafkaUser")
    settings_source = Path(settings.__file__).read_text()
    config = of_kind("ConfigMap")["accord-settings"]["data"]
    for service, c in containers().items():
        env = {e["name"]: e for e in c["env"]}
        assert env["KAFKA_SASL_USERNAME"]["value"] == f"accord-{service}" in names
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"accord-{service}"
        for var in [*env, *config]:
            assert var == "POSTGRES_PASSWORD" or f'"{var}"' in settings_source, f"{service}: {var}"
        given = {**config, **{k: e.get("value", "secret") for k, e in env.items()}}
        given["ACCORD_DATABASE_URL"] = given.get("ACCORD_DATABASE_URL", "").replace(
            "$(POSTGRES_PASSWORD)", "pw"
        )
        loaded = settings.Settings.from_env(given)
        assert loaded.bind_host == "0.0.0.0" and loaded.security_protocol == "SASL_SSL"


def test_the_kustomization_lists_every_generated_manifest() -> None:
    kustomization = yaml.safe_load((k8s.OUT / "kustomization.yaml").read_text())
    assert kustomization["resources"] == list(k8s.parts())


def test_prometheus_finds_every_service_by_its_metrics_service_and_labels_it_as_the_alerts_expect() -> None:
    config = yaml.safe_load(of_kind("ConfigMap")["accord-prometheus"]["data"]["prometheus.yml"])
    (job,) = config["scrape_configs"]
    (relabel,) = job["relabel_configs"]
    services = of_kind("Service")
    for found in job["dns_sd_configs"]:
        (name,) = found["names"]
        service = services[name]
        assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"]
        assert service["spec"]["ports"][0]["port"] == found["port"]
        component = service["spec"]["selector"]["app.kubernetes.io/component"]
        for dns_name in (name, f"{name}.accord.svc.cluster.local"):
            matched = re.fullmatch(relabel["regex"], dns_name)  # Prometheus anchors its regexes
            assert matched and matched.expand(relabel["replacement"].replace("$1", r"\1")) == component
    assert {f["names"][0] for f in job["dns_sd_configs"]} == {f"accord-{s}-metrics" for s in PORTS}


def test_the_scrape_config_in_the_manifests_passes_promtool(tmp_path: Path) -> None:
    tool = shutil.which("promtool")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: `make test` installs it (deploy/tools.sh)", pytrace=False)
        pytest.skip("no promtool (run deploy/tools.sh)")
    for name, text in of_kind("ConfigMap")["accord-prometheus"]["data"].items():
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        [tool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
