"""What Accord's services lean on besides Kafka: PostgreSQL (the steps' stores, the key store,
the case views) and Prometheus' scrape config with the alert rules of deploy/prometheus/."""

from __future__ import annotations

from typing import Any

import yaml

from services.k8s.workloads import DEFAULTS, PART_OF, POSTGRES_IMAGE, metrics_service
from services.runtime.metrics import PORTS
from services.settings import ROOT

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"


def postgres(storage: str = "20Gi") -> list[dict[str, Any]]:
    """One PostgreSQL server for a start; a bank with a managed one deletes this and points the
    Secret's password and ACCORD_DATABASE_URL's host at it (docs/deploy.md)."""
    labels = {**PART_OF, "app.kubernetes.io/component": "postgres"}
    container = {
        "name": "postgres",
        "image": POSTGRES_IMAGE,
        "env": [
            {"name": "POSTGRES_USER", "value": "accord"},
            {"name": "POSTGRES_DB", "value": "accord"},
            {
                "name": "POSTGRES_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "accord-postgres", "key": "password"}},
            },
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
        ],
        "ports": [{"name": "postgres", "containerPort": 5432}],
        "readinessProbe": {
            "exec": {"command": ["pg_isready", "-U", "accord", "-d", "accord"]},
            "periodSeconds": 10,
        },
        "livenessProbe": {
            "exec": {"command": ["pg_isready", "-U", "accord", "-d", "accord"]},
            "periodSeconds": 30,
        },
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
    }
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}},
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "accord-postgres", "labels": labels},
            "spec": {"clusterIP": "None", "selector": labels, "ports": [{"name": "postgres", "port": 5432}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "accord-postgres", "labels": labels},
            "spec": {
                "serviceName": "accord-postgres",
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsUser": 999,
                            "runAsGroup": 999,
                            "fsGroup": 999,
                            "runAsNonRoot": True,
                        },
                        "containers": [container],
                    },
                },
                "volumeClaimTemplates": [claim],
            },
        },
    ]


def scrape_config() -> dict[str, Any]:
    """Every instance of every service, found through its headless `accord-<service>-metrics`
    Service (DNS gives one address per pod, ready or not, so a stalled instance is still seen)
    and labelled as deploy/prometheus/prometheus.yml labels its targets (`service`), so that
    deploy/prometheus/alerts.yml applies unchanged. DNS, not kubernetes_sd_configs: it needs no
    right to list pods, and Debian's promtool (which checks this file) is built without it."""
    found = [
        {"names": [metrics_service(s)], "type": "A", "port": DEFAULTS.metrics_port + PORTS[s]} for s in PORTS
    ]
    service = {
        "source_labels": ["__meta_dns_name"],
        "regex": "accord-(.+)-metrics(\\..*)?",
        "target_label": "service",
        "replacement": "$1",
    }
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [{"job_name": "accord", "dns_sd_configs": found, "relabel_configs": [service]}],
    }


def prometheus() -> list[dict[str, Any]]:
    """The scrape config with the alert rules, for a Prometheus in the namespace (one elsewhere
    takes the same job with the names qualified: accord-intake-metrics.<namespace>.svc)."""
    data = {
        "prometheus.yml": yaml.safe_dump(scrape_config(), sort_keys=False, allow_unicode=True),
        "alerts.yml": ALERTS.read_text(),
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "accord-prometheus", "labels": PART_OF},
            "data": data,
        }
    ]
