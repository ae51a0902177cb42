"""Accord's own workloads on Kubernetes, from the registries: a StatefulSet per registered step
(each pod its own static member of the step's group), a Deployment per service beside them, each
with its metrics port (services/runtime/metrics.PORTS), /health probes and its Kafka principal, the
settings as environment variables, the nightly audit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.k8s.kafka import BOOTSTRAP, CA_SECRET, user_name
from services.runtime.metrics import PORTS
from services.settings import Settings
from services.steps import registry

IMAGE = "accord:0.1.0"  # built from deploy/k8s/Dockerfile; set your registry's with kustomize
POSTGRES_IMAGE = "postgres:17.6"
SETTINGS = "accord-settings"
DATA = "/var/lib/accord"
CA_DIR = "/etc/accord/kafka-ca"
PART_OF = {"app.kubernetes.io/part-of": "accord"}
# Set by the StatefulSet controller on each pod (beta and on by default since Kubernetes 1.28,
# stable since 1.32): the pod's ordinal, as the downward API can pass it to an env variable.
POD_INDEX = "apps.kubernetes.io/pod-index"
DEFAULTS = Settings()


@dataclass(frozen=True)
class Workload:
    replicas: int
    database: bool = True
    port: tuple[str, int] | None = None  # what it serves besides /metrics and /health
    volume: bool = False  # state on a volume of its own (SQLite)
    # A step: a StatefulSet whose pods are the instances 0, 1, 2 … of the step's consumer group.
    instances: bool = False


def workloads(replicas: int) -> dict[str, Workload]:
    """Steps scale out in their consumer groups, one StatefulSet each. The rest are singletons:
    the projection service assign()s every partition and is the single writer of the view store,
    insights is one faust worker with a fixed static member id, and the console and the gateway
    keep their accounts in SQLite under ACCORD_DATA_DIR: one replica each, never two at once."""
    special = {
        "projections": Workload(1, port=("api", DEFAULTS.api_port)),
        "insights": Workload(1, database=False, port=("web", DEFAULTS.insights_port)),
        "console": Workload(1, port=("http", DEFAULTS.console_port), volume=True),
        "gateway": Workload(1, port=("http", DEFAULTS.gateway_port), volume=True),
    }
    # every service with a metrics port: the registered steps and the services beside them
    step = Workload(replicas, instances=True)
    return {s: special.get(s) or (step if s in registry.names() else Workload(1)) for s in PORTS}


def metrics_service(service: str) -> str:
    return f"accord-{service}-metrics"


def labels(service: str) -> dict[str, str]:
    return {**PART_OF, "app.kubernetes.io/component": service}


def settings_map(console_url: str = "https://complaints.bank.example") -> dict[str, Any]:
    """What every service reads (services/settings.py); secrets go in per container."""
    data = {
        "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SSL_CAFILE": f"{CA_DIR}/ca.crt",
        "ACCORD_REPLICATION_FACTOR": "3",
        "ACCORD_PARTITIONS": str(DEFAULTS.partitions),
        # How long a step's group waits for a silent instance before its partitions move: a pod
        # restarted within it (same pod index, same static member) gets them back untouched.
        "ACCORD_SESSION_TIMEOUT": f"{DEFAULTS.session_timeout_s:g}",
        "ACCORD_BIND_HOST": "0.0.0.0",
        "ACCORD_DATA_DIR": DATA,
        "ACCORD_METRICS_PORT": str(DEFAULTS.metrics_port),
        "ACCORD_POLICY": DEFAULTS.policy,
        "ACCORD_HANDLERS": DEFAULTS.handlers,
        "ACCORD_CONSOLE_URL": console_url,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": SETTINGS, "labels": PART_OF},
        "data": data,
    }


def _secret(name: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": name, "key": key}}


def _env(service: str, w: Workload) -> list[dict[str, Any]]:
    # The KafkaUser's Secret (made by Strimzi's user operator) holds its SCRAM password.
    env: list[dict[str, Any]] = [
        {"name": "KAFKA_SASL_USERNAME", "value": user_name(service)},
        {"name": "KAFKA_SASL_PASSWORD", "valueFrom": _secret(user_name(service), "password")},
    ]
    if w.instances:
        # The pod's index in its StatefulSet (0, 1, 2 …): the static member id accord-<step>-<index>
        # a restarted pod keeps, and no two live pods share.
        index = {"fieldRef": {"fieldPath": f"metadata.labels['{POD_INDEX}']"}}
        env.append({"name": "ACCORD_INSTANCE", "valueFrom": index})
    if w.database:
        env += [
            {"name": "POSTGRES_PASSWORD", "valueFrom": _secret("accord-postgres", "password")},
            # $(VAR) is expanded by Kubernetes from the variable above; the password is hex
            {
                "name": "ACCORD_DATABASE_URL",
                "value": "postgresql://accord:$(POSTGRES_PASSWORD)@accord-postgres:5432/accord",
            },
        ]
    return env


def _probe(path: str, port: str, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "failureThreshold": failures}


def container(service: str, w: Workload, command: list[str] | None = None) -> dict[str, Any]:
    ports = [{"name": "metrics", "containerPort": DEFAULTS.metrics_port + PORTS[service]}]
    if w.port:
        ports.append({"name": w.port[0], "containerPort": w.port[1]})
    mounts: list[dict[str, Any]] = [{"name": "data", "mountPath": DATA}, {"name": "tmp", "mountPath": "/tmp"}]
    mounts.append({"name": "kafka-ca", "mountPath": CA_DIR, "readOnly": True})
    if w.volume:  # the customers' links are signed by the console and the gateway with one key
        mounts.append(
            {"name": "link-key", "mountPath": f"{DATA}/link.key", "subPath": "link.key", "readOnly": True}
        )
    return {
        "name": service,
        "image": IMAGE,
        "args": command or ["run", service],
        "envFrom": [{"configMapRef": {"name": SETTINGS}}],
        "env": _env(service, w),
        "ports": ports,
        # /health answers 503 once work waited ACCORD_LIVENESS_SECONDS without progress; a start
        # that replays a long history beats the loop, and gets 5 minutes before liveness counts.
        "startupProbe": _probe("/health", "metrics", 10, 30),
        "livenessProbe": _probe("/health", "metrics", 10, 3),
        "readinessProbe": _probe("/health", "metrics", 10, 1),
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "768Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _volumes() -> list[dict[str, Any]]:
    """ACCORD_DATA_DIR, /tmp (the root file system is read-only) and the cluster's CA."""
    ca = {"secretName": CA_SECRET, "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    return [
        {"name": "data", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "kafka-ca", "secret": ca},
    ]


def _grace_s(w: Workload) -> int:
    """Long enough for a clean stop. On SIGTERM a step finishes the input in hand, its relay
    publishes what it recorded, then the consumer and the relay close: three calls each bounded by
    ACCORD_KAFKA_TIMEOUT when the broker is slow, seconds when it is not. Killed sooner, nothing
    recorded is lost (the store is the truth, an open Kafka transaction aborts); only less is done."""
    return int(3 * DEFAULTS.kafka_timeout_s) + 10 if w.instances else 60


def workload(service: str, w: Workload) -> list[dict[str, Any]]:
    """A step's StatefulSet (with its PodDisruptionBudget) or a singleton's Deployment, and the
    headless metrics Service that both Prometheus and a StatefulSet's pod names hang on."""
    volumes = _volumes()
    data = volumes[0]
    out: list[dict[str, Any]] = []
    if w.volume:
        data["persistentVolumeClaim"] = {"claimName": f"accord-{service}-data"}
        del data["emptyDir"]
        volumes.append(
            {"name": "link-key", "secret": {"secretName": "accord-link-key", "defaultMode": 0o440}}
        )
        out.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": f"accord-{service}-data", "labels": labels(service)},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }
        )
    template = {
        "metadata": {"labels": labels(service)},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": _pod_security(),
            "terminationGracePeriodSeconds": _grace_s(w),
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": labels(service)},
                }
            ],
            "containers": [container(service, w)],
            "volumes": volumes,
        },
    }
    meta = {"name": f"accord-{service}", "labels": labels(service)}
    selector = {"matchLabels": labels(service)}
    if w.instances:
        spec: dict[str, Any] = {
            "replicas": w.replicas,
            "selector": selector,
            "serviceName": metrics_service(service),  # pods accord-<step>-<i>.accord-<step>-metrics
            # Instances are peers, not a chain: all start (and stop) at once; the group shares out
            # the partitions. A rolling update still replaces one pod at a time, highest index first.
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"},
            "template": template,
        }
        out.append({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": spec})
        # A drain takes one instance at a time; the group moves its partitions to the others.
        # A stalled pod (not ready) may always be evicted: it must not hold a node's drain up.
        budget = {"maxUnavailable": 1, "selector": selector, "unhealthyPodEvictionPolicy": "AlwaysAllow"}
        pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta, "spec": budget}
        out.append(pdb)
    else:
        spec = {
            "replicas": w.replicas,
            "selector": selector,
            # Recreate, never a surge: a second projection service would write the same views, a
            # second insights worker would fence the first (one static member id), and the
            # console's and gateway's SQLite volume is mounted by one pod.
            "strategy": {"type": "Recreate"},
            "template": template,
        }
        out.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec})
    # headless, with every instance's address: what Prometheus discovers its targets by
    metrics = {"name": "metrics", "port": DEFAULTS.metrics_port + PORTS[service], "targetPort": "metrics"}
    out.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": metrics_service(service), "labels": labels(service)},
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": labels(service),
                "ports": [metrics],
            },
        }
    )
    if w.port:
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"accord-{service}", "labels": labels(service)},
                "spec": {
                    "selector": labels(service),
                    "ports": [{"name": w.port[0], "port": w.port[1], "targetPort": w.port[0]}],
                },
            }
        )
    return out


def audit_job() -> dict[str, Any]:
    """`accord audit verify` every night, as the read-only auditor principal."""
    c = container("projections", Workload(1), ["audit", "verify"])  # reads the steps' stores too
    c["name"] = "audit"
    c["env"] = _env("audit", Workload(1)) + [  # both principals are the auditor's
        {"name": "ACCORD_AUDIT_KAFKA_USERNAME", "value": user_name("audit")},
        {"name": "ACCORD_AUDIT_KAFKA_PASSWORD", "valueFrom": _secret(user_name("audit"), "password")},
        {"name": "ACCORD_AUDIT_SECURITY_PROTOCOL", "value": "SASL_SSL"},
        {"name": "ACCORD_METRICS_PORT", "value": "0"},
    ]
    for served in ("startupProbe", "livenessProbe", "readinessProbe", "ports"):
        del c[served]  # a job that runs to its end serves nothing
    volumes = _volumes()
    pod = {
        "metadata": {"labels": labels("audit")},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": _pod_security(),
            "containers": [c],
            "volumes": volumes,
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "accord-audit-verify", "labels": labels("audit")},
        "spec": {
            "schedule": "30 2 * * *",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"backoffLimit": 0, "template": pod}},
        },
    }


# Instances per step: each owns a share of the step's partitions (ACCORD_PARTITIONS bounds how
# many do useful work) and the others take over a failed one's. Intake too: until its
# re-partitioning by customer lands, one instance owns its input and two stand by hot.
STEP_REPLICAS = 3


def services(replicas: int = STEP_REPLICAS) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [settings_map()]
    for service, w in workloads(replicas).items():
        out += workload(service, w)
    return [*out, audit_job()]
