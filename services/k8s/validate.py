"""Checks manifests offline against the real schemas: Kubernetes' own OpenAPI schemas (as JSON
schemas, shipped by the kubernetes-validate package, strict: an unknown field is an error) and the
openAPIV3Schema of Strimzi's CRDs (deploy/k8s/schemas/, with their source and version)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from services.k8s import LOADER, OUT, documents, parts
from services.k8s.kafka import CLUSTER, KAFKA_VERSION, METADATA_VERSION, STRIMZI

# The oldest Kubernetes Accord runs on (1.32: the pod-index label a step's instance number comes
# from is stable there; Strimzi 1.2 itself runs on 1.30 and newer) and the newest the pinned
# kubernetes-validate ships: a field too new for the one or gone from the other fails.
KUBERNETES = ("1.32", "1.37")
CRDS = OUT / "schemas" / f"strimzi-{STRIMZI}"
# What the API server requires of most names (RFC 1123 subdomain), which the schemas leave out.
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class Problem:
    file: str
    kind: str
    name: str
    where: str  # the path to the offending field, e.g. spec.partitionz
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.kind}/{self.name}: {self.where or '(document)'}: {self.message}"


def strict(schema: Any) -> Any:
    """A CRD's structural schema as a JSON schema that refuses unknown fields, as the API server
    does with field validation Strict (kubectl's default): an object with properties and no
    `x-kubernetes-preserve-unknown-fields` gets additionalProperties false."""
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if "properties" in out:
        out["properties"] = {k: strict(v) for k, v in out["properties"].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), dict):
            out[key] = strict(out[key])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in out:
            out[key] = [strict(s) for s in out[key]]
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [*out.get("anyOf", []), {"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict JSON schema, for every version each kept CRD serves."""
    found = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=LOADER)
        if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                found[(f"{group}/{version['name']}", kind)] = strict(version["schema"]["openAPIV3Schema"])
    return found


def _where(path: Any) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")


def validate(doc: dict[str, Any], file: str = "<manifest>") -> list[Problem]:
    import jsonschema
    import kubernetes_validate

    api, kind = str(doc.get("apiVersion")), str(doc.get("kind"))
    name = str((doc.get("metadata") or {}).get("name", "?"))

    def problem(where: str, message: str) -> Problem:
        return Problem(file, kind, name, where, message)

    out = [] if NAME.match(name) else [problem("metadata.name", f"{name!r} is not a valid Kubernetes name")]
    schema = crd_schemas().get((api, kind))
    groups = {a.split("/")[0] for a, _ in crd_schemas()}
    if schema is not None:
        validator = jsonschema.Draft202012Validator(schema)
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
            out.append(problem(_where(error.absolute_path), error.message))
        # The CRDs leave metadata open; the API server checks it as any object's.
        doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc.get("metadata") or {}}
    elif api.split("/")[0] in groups:
        served = sorted(f"{a} {k}" for a, k in crd_schemas() if a.split("/")[0] == api.split("/")[0])
        return [*out, problem("apiVersion", f"Strimzi {STRIMZI} serves no {api} {kind}; it serves {served}")]
    for version in KUBERNETES:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            out.append(problem(_where(exc.absolute_path), f"{exc.message} (Kubernetes {version})"))
        except kubernetes_validate.SchemaNotFoundError as exc:
            out.append(problem("apiVersion", exc.message))
    return out


def validate_file(path: Path) -> list[Problem]:
    shown = str(path.relative_to(OUT.parent.parent)) if path.is_relative_to(OUT.parent.parent) else str(path)
    return [p for doc in documents(path) for p in validate(doc, shown)]


def kafka_version() -> list[Problem]:
    """The pinned Kafka must be one the pinned Strimzi runs, with its metadata version."""
    versions = yaml.safe_load((CRDS / "kafka-versions.yaml").read_text())
    entry = next((v for v in versions if str(v["version"]) == KAFKA_VERSION), None)
    supported = [str(v["version"]) for v in versions if v.get("supported")]
    where = "deploy/k8s/kafka.yaml"
    if entry is None or not entry.get("supported"):
        message = f"Strimzi {STRIMZI} does not run Kafka {KAFKA_VERSION}; it runs {supported}"
        return [Problem(where, "Kafka", CLUSTER, "spec.kafka.version", message)]
    if str(entry["metadata"]) != METADATA_VERSION:
        message = f"Kafka {KAFKA_VERSION}'s metadata version is {entry['metadata']}, not {METADATA_VERSION}"
        return [Problem(where, "Kafka", CLUSTER, "spec.kafka.metadataVersion", message)]
    return []


def validate_all(out: Path = OUT) -> list[Problem]:
    """Every generated manifest (the kustomization is kustomize's, not an API object)."""
    return [*kafka_version(), *(p for name in parts() for p in validate_file(out / name))]
