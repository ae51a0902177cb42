"""The one settings object: every process reads its configuration here, from the environment."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from services.rules.model import Rules

ROOT = Path(__file__).resolve().parent.parent

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]


class Settings(BaseModel):
    """Accord's configuration. Each field maps to one environment variable (see README)."""

    # hide_input_in_errors: a refused setting must not echo the passwords given alongside it.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    bootstrap_servers: str = Field(default="127.0.0.1:9092")  # KAFKA_BOOTSTRAP_SERVERS
    data_dir: Path = Field(default=ROOT / ".accord")  # ACCORD_DATA_DIR
    kafka_home: Path = Field(default=ROOT / "deploy" / ".cache" / "kafka")  # ACCORD_KAFKA_HOME
    partitions: int = Field(default=6, ge=1)  # ACCORD_PARTITIONS
    # Unset: follows the node count (one node: 1, a cluster: 3), see `replication`.
    replication_factor: int | None = Field(default=None, ge=1)  # ACCORD_REPLICATION_FACTOR
    # How many KRaft nodes the local broker runs (`accord broker start --nodes N` overrides it);
    # unset: one per address in KAFKA_BOOTSTRAP_SERVERS.
    broker_nodes: int | None = Field(default=None, ge=1, le=9)  # ACCORD_BROKER_NODES
    # Unset: 512m for a single node, 384m per node of a cluster (three JVMs on a small machine).
    broker_heap: str | None = None  # ACCORD_BROKER_HEAP
    broker_start_timeout_s: float = Field(default=90.0, gt=0)  # ACCORD_BROKER_START_TIMEOUT
    database_url: str | None = None  # ACCORD_DATABASE_URL: postgresql://... (default: SQLite)
    metrics_port: int = Field(default=9400, ge=0)  # ACCORD_METRICS_PORT: base port, 0 = off
    api_port: int = Field(default=8088, ge=0)  # ACCORD_API_PORT: read-only case API, 0 = off
    clock: Literal["wall", "message"] = "wall"  # ACCORD_CLOCK: "message" replays history
    tick_seconds: float = Field(default=5.0, gt=0)  # ACCORD_TICK_SECONDS: timer resolution
    # Riding out a broker outage (see docs/architecture.md, "Failure and delivery"): no Kafka call
    # blocks longer than kafka_timeout_s; a service that has lag and has made no progress for
    # liveness_s answers 503 on /health, and one whose own loop has not turned for that long exits.
    kafka_timeout_s: float = Field(default=30.0, ge=1)  # ACCORD_KAFKA_TIMEOUT
    liveness_s: float = Field(default=120.0, gt=0)  # ACCORD_LIVENESS_SECONDS
    # Workflow rules (see docs/workflow.md).
    policy: Literal["CN-2020", "UK-FCA", "US-CFPB"] = "CN-2020"  # ACCORD_POLICY
    first_contact_hours: int = Field(default=24, ge=1)  # ACCORD_FIRST_CONTACT_HOURS
    approval_limit: Decimal = Field(default=Decimal("10000"), ge=0)  # ACCORD_APPROVAL_LIMIT
    max_rounds: int = Field(default=3, ge=1, le=20)  # ACCORD_MAX_ROUNDS
    reopen_days: int = Field(default=14, ge=0)  # ACCORD_REOPEN_DAYS
    awaiting_customer_counts: bool = True  # ACCORD_AWAITING_CUSTOMER_COUNTS
    handlers: str = "H-001:retail,H-002:retail,H-003:cards,H-004:wealth"  # ACCORD_HANDLERS
    default_tolerance_missed: int = Field(default=2, ge=1)  # ACCORD_MISSED_INSTALMENTS_TO_DEFAULT
    # Early warning (see docs/insights.md): a surge is a day's complaints for one (branch, product,
    # category) of at least `surge_min_count` and more than `surge_factor` times the mean per day
    # of the `surge_baseline_days` before it. A rule, not a measured figure: tune it per bank.
    surge_factor: float = Field(default=3.0, gt=0)  # ACCORD_SURGE_FACTOR
    surge_min_count: int = Field(default=10, ge=1)  # ACCORD_SURGE_MIN_COUNT
    surge_baseline_days: int = Field(default=28, ge=1, le=366)  # ACCORD_SURGE_BASELINE_DAYS
    insights_app_id: str = "accord-insights"  # ACCORD_INSIGHTS_APP_ID: consumer group, changelog prefix
    insights_port: int = Field(default=8089, ge=0)  # ACCORD_INSIGHTS_PORT: faust web (/windows/), 0 = off
    # How the services authenticate to Kafka (see docs/security.md). Passwords are SecretStr so
    # they never show in a repr, a log line or a validation error.
    security_protocol: SecurityProtocol = "PLAINTEXT"  # KAFKA_SECURITY_PROTOCOL
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"  # KAFKA_SASL_MECHANISM
    sasl_username: str | None = None  # KAFKA_SASL_USERNAME
    sasl_password: SecretStr | None = None  # KAFKA_SASL_PASSWORD
    # Per-service principals: a JSON file {"accord-<service>": password, ...} (mode 600). With a
    # SASL protocol, a process that runs a service (ACCORD_SERVICE, set by `accord run`) connects
    # as `accord-<service>` when the file holds it; anything else connects as KAFKA_SASL_USERNAME.
    kafka_credentials: Path | None = None  # ACCORD_KAFKA_CREDENTIALS
    service: str | None = None  # ACCORD_SERVICE: the service this process runs (set by `accord run`)
    ssl_cafile: Path | None = None  # KAFKA_SSL_CAFILE: CA bundle for SASL_SSL (default: the system's)
    # The read-only principal `accord audit` runs as; unset, audit uses the services' settings.
    audit_kafka_username: str | None = None  # ACCORD_AUDIT_KAFKA_USERNAME
    audit_kafka_password: SecretStr | None = None  # ACCORD_AUDIT_KAFKA_PASSWORD
    audit_bootstrap_servers: str | None = None  # ACCORD_AUDIT_BOOTSTRAP_SERVERS (default: the services')
    audit_security_protocol: SecurityProtocol | None = None  # ACCORD_AUDIT_SECURITY_PROTOCOL
    # The local broker's SASL_PLAINTEXT listener (default: broker port + 2).
    broker_sasl_port: int | None = Field(default=None, ge=1, le=65535)  # ACCORD_BROKER_SASL_PORT
    # -- the console, the customer's page and the channels' gateway (services/web/) --
    console_port: int = Field(default=8090, ge=0, le=65535)  # ACCORD_CONSOLE_PORT, 0 = off
    gateway_port: int = Field(default=8091, ge=0, le=65535)  # ACCORD_GATEWAY_PORT, 0 = off
    console_url: str | None = None  # ACCORD_CONSOLE_URL: the customers' links start with it
    session_minutes: int = Field(default=480, ge=1)  # ACCORD_SESSION_MINUTES
    lockout_attempts: int = Field(default=5, ge=1)  # ACCORD_LOCKOUT_ATTEMPTS
    lockout_minutes: int = Field(default=15, ge=1)  # ACCORD_LOCKOUT_MINUTES
    customer_link_days: int = Field(default=30, ge=1)  # ACCORD_CUSTOMER_LINK_DAYS
    gateway_max_bytes: int = Field(default=65536, ge=1024)  # ACCORD_GATEWAY_MAX_BYTES
    gateway_rate_per_minute: int = Field(default=120, ge=1)  # ACCORD_GATEWAY_RATE_PER_MINUTE

    @model_validator(mode="after")
    def _credentials_are_complete(self) -> Settings:
        if self.security_protocol != "PLAINTEXT" and not (
            (self.sasl_username and self.sasl_password) or self.kafka_credentials
        ):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs a SASL username and password "
                "(KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD) or per-service ones (ACCORD_KAFKA_CREDENTIALS)"
            )
        if self.audit_kafka_username and not self.audit_kafka_password:
            raise ValueError("audit_kafka_username is set but ACCORD_AUDIT_KAFKA_PASSWORD is not")
        if self.audit_protocol == "PLAINTEXT" and self.audit_kafka_username:
            raise ValueError("audit_security_protocol PLAINTEXT cannot carry the audit principal's password")
        if self.liveness_s < 3 * self.kafka_timeout_s:
            # A loop turn may wait out a few bounded Kafka calls; it must not look like a hang.
            raise ValueError("liveness_s (ACCORD_LIVENESS_SECONDS) must be at least 3 x ACCORD_KAFKA_TIMEOUT")
        if self.broker_sasl_port is not None and self.broker_sasl_port in (
            self.broker_port,
            self.broker_controller_port,
        ):
            raise ValueError(
                f"broker_sasl_port {self.broker_sasl_port} collides with the broker or controller port"
            )
        return self

    def rules(self) -> Rules:
        """What the step cores decide with: the policy settings only."""
        return Rules(
            policy=self.policy,
            first_contact_hours=self.first_contact_hours,
            handler_rota=tuple(self.handler_rota),
            approval_limit=self.approval_limit,
            max_rounds=self.max_rounds,
            reopen_days=self.reopen_days,
            awaiting_customer_counts=self.awaiting_customer_counts,
            default_tolerance_missed=self.default_tolerance_missed,
        )

    @property
    def public_url(self) -> str:
        """Where customers reach the console's customer page (their links start with it)."""
        return self.console_url or f"http://127.0.0.1:{self.console_port}"

    @property
    def handler_rota(self) -> list[tuple[str, str]]:
        """(handler id, team) pairs from ACCORD_HANDLERS, in rota order."""
        pairs = [item.strip().split(":", 1) for item in self.handlers.split(",") if item.strip()]
        return [(p[0], p[1] if len(p) > 1 else "general") for p in pairs]

    @property
    def broker_port(self) -> int:
        first = self.bootstrap_servers.split(",")[0]
        return int(first.rsplit(":", 1)[1])

    @property
    def nodes(self) -> int:
        """How many KRaft nodes the local broker runs: ACCORD_BROKER_NODES, else one per
        bootstrap address."""
        return self.broker_nodes or len([a for a in self.bootstrap_servers.split(",") if a.strip()])

    @property
    def replication(self) -> int:
        """The replication factor topics are created with: ACCORD_REPLICATION_FACTOR, else the
        node count up to 3."""
        return self.replication_factor or min(self.nodes, 3)

    @property
    def min_insync_replicas(self) -> int:
        return min_insync_replicas(self.replication)

    @property
    def heap(self) -> str:
        return self.broker_heap or ("512m" if self.nodes == 1 else "384m")

    def kafka_principal(self) -> tuple[str | None, SecretStr | None]:
        """(username, password) the services connect with: the running service's own principal
        `accord-<service>` when ACCORD_KAFKA_CREDENTIALS holds it, else KAFKA_SASL_USERNAME's."""
        if self.service and self.kafka_credentials:
            try:
                known = json.loads(self.kafka_credentials.read_text())
            except (OSError, ValueError) as exc:
                where = self.kafka_credentials
                raise ValueError(f"ACCORD_KAFKA_CREDENTIALS {where}: {type(exc).__name__}") from None
            name = f"accord-{self.service}"
            if isinstance(known, dict) and isinstance(known.get(name), str):
                return name, SecretStr(known[name])
        return self.sasl_username, self.sasl_password

    def as_service(self, name: str) -> Settings:
        """These settings for a process that runs service `name` (its own Kafka principal)."""
        return self.model_copy(update={"service": name})

    @property
    def broker_host(self) -> str:
        return self.bootstrap_servers.split(",")[0].rsplit(":", 1)[0]

    @property
    def broker_controller_port(self) -> int:
        return self.broker_port + 1

    @property
    def broker_sasl_listener_port(self) -> int:
        # +2: next to the controller's +1, so the test (19092), bench (39092) and demo (9092)
        # brokers each get their own.
        return self.broker_sasl_port or self.broker_port + 2

    @property
    def audit_principal(self) -> bool:
        """Whether audit runs as its own principal rather than with the services' settings."""
        return self.audit_kafka_username is not None

    @property
    def audit_protocol(self) -> SecurityProtocol:
        if self.audit_security_protocol:
            return self.audit_security_protocol
        return "SASL_PLAINTEXT" if self.audit_principal else self.security_protocol

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        names = {
            "bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
            "data_dir": "ACCORD_DATA_DIR",
            "kafka_home": "ACCORD_KAFKA_HOME",
            "partitions": "ACCORD_PARTITIONS",
            "replication_factor": "ACCORD_REPLICATION_FACTOR",
            "broker_nodes": "ACCORD_BROKER_NODES",
            "broker_heap": "ACCORD_BROKER_HEAP",
            "broker_start_timeout_s": "ACCORD_BROKER_START_TIMEOUT",
            "database_url": "ACCORD_DATABASE_URL",
            "metrics_port": "ACCORD_METRICS_PORT",
            "api_port": "ACCORD_API_PORT",
            "clock": "ACCORD_CLOCK",
            "tick_seconds": "ACCORD_TICK_SECONDS",
            "kafka_timeout_s": "ACCORD_KAFKA_TIMEOUT",
            "liveness_s": "ACCORD_LIVENESS_SECONDS",
            "policy": "ACCORD_POLICY",
            "first_contact_hours": "ACCORD_FIRST_CONTACT_HOURS",
            "approval_limit": "ACCORD_APPROVAL_LIMIT",
            "max_rounds": "ACCORD_MAX_ROUNDS",
            "reopen_days": "ACCORD_REOPEN_DAYS",
            "awaiting_customer_counts": "ACCORD_AWAITING_CUSTOMER_COUNTS",
            "handlers": "ACCORD_HANDLERS",
            "default_tolerance_missed": "ACCORD_MISSED_INSTALMENTS_TO_DEFAULT",
            "surge_factor": "ACCORD_SURGE_FACTOR",
            "surge_min_count": "ACCORD_SURGE_MIN_COUNT",
            "surge_baseline_days": "ACCORD_SURGE_BASELINE_DAYS",
            "insights_app_id": "ACCORD_INSIGHTS_APP_ID",
            "insights_port": "ACCORD_INSIGHTS_PORT",
            "security_protocol": "KAFKA_SECURITY_PROTOCOL",
            "sasl_mechanism": "KAFKA_SASL_MECHANISM",
            "sasl_username": "KAFKA_SASL_USERNAME",
            "sasl_password": "KAFKA_SASL_PASSWORD",
            "ssl_cafile": "KAFKA_SSL_CAFILE",
            "kafka_credentials": "ACCORD_KAFKA_CREDENTIALS",
            "service": "ACCORD_SERVICE",
            "audit_kafka_username": "ACCORD_AUDIT_KAFKA_USERNAME",
            "audit_kafka_password": "ACCORD_AUDIT_KAFKA_PASSWORD",
            "audit_bootstrap_servers": "ACCORD_AUDIT_BOOTSTRAP_SERVERS",
            "audit_security_protocol": "ACCORD_AUDIT_SECURITY_PROTOCOL",
            "broker_sasl_port": "ACCORD_BROKER_SASL_PORT",
            # the console, the customer's page and the gateway
            "console_port": "ACCORD_CONSOLE_PORT",
            "gateway_port": "ACCORD_GATEWAY_PORT",
            "console_url": "ACCORD_CONSOLE_URL",
            "session_minutes": "ACCORD_SESSION_MINUTES",
            "lockout_attempts": "ACCORD_LOCKOUT_ATTEMPTS",
            "lockout_minutes": "ACCORD_LOCKOUT_MINUTES",
            "customer_link_days": "ACCORD_CUSTOMER_LINK_DAYS",
            "gateway_max_bytes": "ACCORD_GATEWAY_MAX_BYTES",
            "gateway_rate_per_minute": "ACCORD_GATEWAY_RATE_PER_MINUTE",
        }
        given = {field: env[var] for field, var in names.items() if env.get(var)}
        return cls.model_validate(given)


def min_insync_replicas(replication: int) -> int:
    """Acknowledged writes survive the loss of one replica once there are three: RF 3 gives
    min ISR 2 (RF 1 or 2: 1, so that one broker down does not stop every write)."""
    return max(1, min(2, replication - 1))


def load() -> Settings:
    return Settings.from_env()
