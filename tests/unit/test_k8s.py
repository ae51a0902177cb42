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


def test_a_stateful_set_without_a_selector_is_refused_by_each_kubernetes_version() -> None:
    stateful_set = copy.deepcopy(of_kind("StatefulSet")["accord-intake"])
    del stateful_set["spec"]["selector"]
    problems = [str(p) for p in validate.validate(stateful_set)]
    assert problems == [
        f"<manifest>: StatefulSet/accord-intake: spec: 'selector' is a required property (Kubernetes {v})"
        for v in validate.KUBERNETES
    ]


def test_a_misspelled_field_deep_in_a_pod_template_is_refused_where_it_is() -> None:
    stateful_set = copy.deepcopy(of_kind("StatefulSet")["accord-sla"])
    stateful_set["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/"
    problems = validate.validate(stateful_set)
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
    del next(d for d in docs if d["kind"] == "StatefulSet")["spec"]["selector"]
    path.write_text(yaml.safe_dump_all(docs))
    problems = validate.validate_all(tmp_path)
    assert problems and {(p.kind, p.name) for p in problems} == {("StatefulSet", "accord-intake")}
    assert str(problems[0]).startswith(f"{path}: StatefulSet/accord-intake: spec: 'selector'")
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


def test_a_newly_registered_step_gets_its_topic_principal_instances_and_scrape_target(followup: str) -> None:
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
    assert ("Deployment", "accord-followup") not in generated
    stateful_set = generated[("StatefulSet", "accord-followup")]
    assert stateful_set["spec"]["replicas"] == workloads.STEP_REPLICAS
    assert_runs_as_instances(stateful_set, {n: d for (k, n), d in generated.items() if k == "Service"})
    assert generated[("PodDisruptionBudget", "accord-followup")]["spec"]["maxUnavailable"] == 1
    (container,) = stateful_set["spec"]["template"]["spec"]["containers"]
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
        forwards = {topic.name for topic in registry.spec(name).forwards.values()}
        assert written == {own, DEADLETTER.name} | rejects | forwards, name
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


def running() -> dict[str, dict[str, Any]]:
    """Every service's workload (a step's StatefulSet, another's Deployment) by service name."""
    found = {**of_kind("Deployment"), **of_kind("StatefulSet")}
    return {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in found.values()
        if d["metadata"]["name"] != "accord-postgres"
    }


def containers() -> dict[str, dict[str, Any]]:
    return {service: d["spec"]["template"]["spec"]["containers"][0] for service, d in running().items()}


def assert_runs_as_instances(stateful_set: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    """Peers started at once, updated one at a time, each told its pod index as ACCORD_INSTANCE,
    with a headless governing Service that selects exactly its pods."""
    spec = stateful_set["spec"]
    assert spec["podManagementPolicy"] == "Parallel" and spec["updateStrategy"]["type"] == "RollingUpdate"
    governing = services[spec["serviceName"]]["spec"]
    assert governing["clusterIP"] == "None" and governing["selector"] == spec["selector"]["matchLabels"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["ACCORD_INSTANCE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}
    }
    # a clean stop: the input in hand, the relay's flush and two closes, each bounded by the timeout
    assert pod["terminationGracePeriodSeconds"] >= 3 * settings.Settings().kafka_timeout_s


def test_each_step_runs_as_a_stateful_set_of_numbered_instances_with_a_disruption_budget() -> None:
    stateful_sets, budgets = of_kind("StatefulSet"), of_kind("PodDisruptionBudget")
    services = of_kind("Service")
    assert set(stateful_sets) == {f"accord-{s}" for s in registry.names()} | {"accord-postgres"}
    assert set(budgets) == {f"accord-{s}" for s in registry.names()}
    for step in registry.names():
        stateful_set = stateful_sets[f"accord-{step}"]
        assert stateful_set["spec"]["replicas"] == workloads.STEP_REPLICAS == 3
        assert_runs_as_instances(stateful_set, services)
        budget = budgets[f"accord-{step}"]["spec"]
        assert budget["maxUnavailable"] == 1 and budget["selector"] == stateful_set["spec"]["selector"]
    config = of_kind("ConfigMap")["accord-settings"]["data"]
    # set, not left to the default: how long a restarted pod may take to get its partitions back
    assert float(config["ACCORD_SESSION_TIMEOUT"]) == settings.Settings().session_timeout_s == 10


def test_the_services_beside_the_steps_run_one_at_a_time_never_two_during_an_update() -> None:
    deployments = of_kind("Deployment")
    assert set(deployments) == {f"accord-{s}" for s in PORTS if s not in registry.names()}
    for name, deployment in deployments.items():
        assert deployment["spec"]["replicas"] == 1, name
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}, name
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        assert "ACCORD_INSTANCE" not in {e["name"] for e in env}, name


def test_every_service_runs_probed_on_the_health_of_its_metrics_port() -> None:
    assert set(containers()) == set(PORTS)
    workloads_by_service = running()
    for service, c in containers().items():
        assert c["args"] == ["run", service]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["metrics"] == settings.Settings().metrics_port + PORTS[service]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert c[probe]["httpGet"] == {"path": "/health", "port": "metrics"}
        replicas = workloads_by_service[service]["spec"]["replicas"]
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
        # a secret's value, or the pod index the downward API gives a step's instance
        given = {**config, **{k: e.get("value") or _from(e["valueFrom"]) for k, e in env.items()}}
        given["ACCORD_DATABASE_URL"] = given.get("ACCORD_DATABASE_URL", "").replace(
            "$(POSTGRES_PASSWORD)", "pw"
        )
        loaded = settings.Settings.from_env(given)
        assert loaded.bind_host == "0.0.0.0" and loaded.security_protocol == "SASL_SSL"


def _from(source: dict[str, Any]) -> str:
    return "2" if "fieldRef" in source else "secret"


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
    # every pod of a step's StatefulSet: its governing Service is the one Prometheus resolves
    discovered = {f["names"][0] for f in job["dns_sd_configs"]}
    for name, stateful_set in of_kind("StatefulSet").items():
        assert name == "accord-postgres" or stateful_set["spec"]["serviceName"] in discovered, name


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
