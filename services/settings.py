"""The one settings object: every process reads its configuration here, from the environment."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from services.rules.model import Rules

ROOT = Path(__file__).resolve().parent.parent

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]


class Settings(BaseSettings):
    """Accord's configuration. Each field is read from the one environment variable its alias
    names (see README)."""

    # hide_input_in_errors: a refused setting must not echo the passwords given alongside it.
    # validate_by_name: code and tests may also build it by field name (Settings(data_dir=...));
    # loc_by_alias=False: a refusal names the field (`partitions`), not the variable, as before.
    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
        validate_by_name=True,
        validate_by_alias=True,
        loc_by_alias=False,
    )

    bootstrap_servers: str = Field(default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    data_dir: Path = Field(default=ROOT / ".accord", validation_alias="ACCORD_DATA_DIR")
    kafka_home: Path = Field(
        default=ROOT / "deploy" / ".cache" / "kafka", validation_alias="ACCORD_KAFKA_HOME"
    )
    partitions: int = Field(default=6, ge=1, validation_alias="ACCORD_PARTITIONS")
    # Which instance of its step this process is (0, 1, 2 …): its static group membership
    # (`accord-<step>-<instance>`), so a restart within the session timeout gets its partitions
    # back. Two live processes must never share one (the broker fences the older).
    instance: int = Field(default=0, ge=0, validation_alias="ACCORD_INSTANCE")
    # How long the group waits for a silent instance before its partitions move (failover time).
    session_timeout_s: float = Field(
        default=10.0, ge=6.0, le=300.0, validation_alias="ACCORD_SESSION_TIMEOUT"
    )
    # Unset: follows the node count (one node: 1, a cluster: 3), see `replication`.
    replication_factor: int | None = Field(default=None, ge=1, validation_alias="ACCORD_REPLICATION_FACTOR")
    # How many KRaft nodes the local broker runs (`accord broker start --nodes N` overrides it);
    # unset: one per address in KAFKA_BOOTSTRAP_SERVERS.
    broker_nodes: int | None = Field(default=None, ge=1, le=9, validation_alias="ACCORD_BROKER_NODES")
    # Unset: 512m for a single node, 384m per node of a cluster (three JVMs on a small machine).
    broker_heap: str | None = Field(default=None, validation_alias="ACCORD_BROKER_HEAP")
    broker_start_timeout_s: float = Field(default=90.0, gt=0, validation_alias="ACCORD_BROKER_START_TIMEOUT")
    # postgresql://user:pw@host:port/db[?schema=name] (default: SQLite)
    database_url: str | None = Field(default=None, validation_alias="ACCORD_DATABASE_URL")
    # base port, 0 = off
    metrics_port: int = Field(default=9400, ge=0, validation_alias="ACCORD_METRICS_PORT")
    # Where every HTTP endpoint (metrics, /health, the case API, the console, the gateway) listens:
    # loopback on one machine; 0.0.0.0 in a container, so that probes and Prometheus reach it.
    bind_host: str = Field(default="127.0.0.1", validation_alias="ACCORD_BIND_HOST")
    # read-only case API, 0 = off
    api_port: int = Field(default=8088, ge=0, validation_alias="ACCORD_API_PORT")
    # "message" replays history
    clock: Literal["wall", "message"] = Field(default="wall", validation_alias="ACCORD_CLOCK")
    tick_seconds: float = Field(default=5.0, gt=0, validation_alias="ACCORD_TICK_SECONDS")  # timer resolution
    # Riding out a broker outage (see docs/architecture.md, "Failure and delivery"): no Kafka call
    # blocks longer than kafka_timeout_s; a service that has lag and has made no progress for
    # liveness_s answers 503 on /health, and one whose own loop has not turned for that long exits.
    kafka_timeout_s: float = Field(default=30.0, ge=1, validation_alias="ACCORD_KAFKA_TIMEOUT")
    liveness_s: float = Field(default=120.0, gt=0, validation_alias="ACCORD_LIVENESS_SECONDS")
    # Workflow rules (see docs/workflow.md).
    policy: Literal["CN-2020", "UK-FCA", "US-CFPB"] = Field(
        default="CN-2020", validation_alias="ACCORD_POLICY"
    )
    first_contact_hours: int = Field(default=24, ge=1, validation_alias="ACCORD_FIRST_CONTACT_HOURS")
    approval_limit: Decimal = Field(default=Decimal("10000"), ge=0, validation_alias="ACCORD_APPROVAL_LIMIT")
    max_rounds: int = Field(default=3, ge=1, le=20, validation_alias="ACCORD_MAX_ROUNDS")
    reopen_days: int = Field(default=14, ge=0, validation_alias="ACCORD_REOPEN_DAYS")
    awaiting_customer_counts: bool = Field(default=True, validation_alias="ACCORD_AWAITING_CUSTOMER_COUNTS")
    handlers: str = Field(
        default="H-001:retail,H-002:retail,H-003:cards,H-004:wealth", validation_alias="ACCORD_HANDLERS"
    )
    default_tolerance_missed: int = Field(
        default=2, ge=1, validation_alias="ACCORD_MISSED_INSTALMENTS_TO_DEFAULT"
    )
    # Early warning (see docs/insights.md): a surge is a day's complaints for one (branch, product,
    # category) of at least `surge_min_count` and more than `surge_factor` times the mean per day
    # of the `surge_baseline_days` before it. A rule, not a measured figure: tune it per bank.
    surge_factor: float = Field(default=3.0, gt=0, validation_alias="ACCORD_SURGE_FACTOR")
    surge_min_count: int = Field(default=10, ge=1, validation_alias="ACCORD_SURGE_MIN_COUNT")
    surge_baseline_days: int = Field(default=28, ge=1, le=366, validation_alias="ACCORD_SURGE_BASELINE_DAYS")
    # consumer group, changelog prefix
    insights_app_id: str = Field(default="accord-insights", validation_alias="ACCORD_INSIGHTS_APP_ID")
    # faust web (/windows/), 0 = off
    insights_port: int = Field(default=8089, ge=0, validation_alias="ACCORD_INSIGHTS_PORT")
    # How the services authenticate to Kafka (see docs/security.md). Passwords are SecretStr so
    # they never show in a repr, a log line or a validation error.
    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN", validation_alias="KAFKA_SASL_MECHANISM"
    )
    sasl_username: str | None = Field(default=None, validation_alias="KAFKA_SASL_USERNAME")
    sasl_password: SecretStr | None = Field(default=None, validation_alias="KAFKA_SASL_PASSWORD")
    # Per-service principals: a JSON file {"accord-<service>": password, ...} (mode 600). With a
    # SASL protocol, a process that runs a service (ACCORD_SERVICE, set by `accord run`) connects
    # as `accord-<service>` when the file holds it; anything else connects as KAFKA_SASL_USERNAME.
    kafka_credentials: Path | None = Field(default=None, validation_alias="ACCORD_KAFKA_CREDENTIALS")
    # the service this process runs (set by `accord run`)
    service: str | None = Field(default=None, validation_alias="ACCORD_SERVICE")
    # CA bundle for SASL_SSL (default: the system's)
    ssl_cafile: Path | None = Field(default=None, validation_alias="KAFKA_SSL_CAFILE")
    # The read-only principal `accord audit` runs as; unset, audit uses the services' settings.
    audit_kafka_username: str | None = Field(default=None, validation_alias="ACCORD_AUDIT_KAFKA_USERNAME")
    audit_kafka_password: SecretStr | None = Field(
        default=None, validation_alias="ACCORD_AUDIT_KAFKA_PASSWORD"
    )
    # where audit connects (default: the services' address)
    audit_bootstrap_servers: str | None = Field(
        default=None, validation_alias="ACCORD_AUDIT_BOOTSTRAP_SERVERS"
    )
    audit_security_protocol: SecurityProtocol | None = Field(
        default=None, validation_alias="ACCORD_AUDIT_SECURITY_PROTOCOL"
    )
    # The local broker's SASL_PLAINTEXT listener (default: broker port + 2).
    broker_sasl_port: int | None = Field(
        default=None, ge=1, le=65535, validation_alias="ACCORD_BROKER_SASL_PORT"
    )
    # -- the console, the customer's page and the channels' gateway (services/web/) --
    console_port: int = Field(default=8090, ge=0, le=65535, validation_alias="ACCORD_CONSOLE_PORT")  # 0 = off
    gateway_port: int = Field(default=8091, ge=0, le=65535, validation_alias="ACCORD_GATEWAY_PORT")  # 0 = off
    # the customers' links start with it
    console_url: str | None = Field(default=None, validation_alias="ACCORD_CONSOLE_URL")
    session_minutes: int = Field(default=480, ge=1, validation_alias="ACCORD_SESSION_MINUTES")
    lockout_attempts: int = Field(default=5, ge=1, validation_alias="ACCORD_LOCKOUT_ATTEMPTS")
    lockout_minutes: int = Field(default=15, ge=1, validation_alias="ACCORD_LOCKOUT_MINUTES")
    customer_link_days: int = Field(default=30, ge=1, validation_alias="ACCORD_CUSTOMER_LINK_DAYS")
    gateway_max_bytes: int = Field(default=65536, ge=1024, validation_alias="ACCORD_GATEWAY_MAX_BYTES")
    gateway_rate_per_minute: int = Field(default=120, ge=1, validation_alias="ACCORD_GATEWAY_RATE_PER_MINUTE")

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
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Settings(...) built in code is exactly what it was given; the environment is read by
        # from_env, which tests hand a mapping of their own.
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings from the environment variables named by each field's alias (os.environ
        unless `env` is given); an empty variable counts as unset, but for ACCORD_INSTANCE: an
        empty one (a missing Kubernetes pod-index label) would make every instance number 0,
        each fencing the others, so it is refused."""
        source = os.environ if env is None else env
        if source.get("ACCORD_INSTANCE") == "":
            raise ValueError(
                "ACCORD_INSTANCE is set but empty: give each instance of a step its own number "
                "(0, 1, 2 …), or unset it for a single instance"
            )
        return cls(**_Environment(cls, source)())


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping, so that a test (or a caller
    that builds the environment itself) does not go through os.environ. Only the variables
    named by the fields' aliases are read, case-sensitively."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls, case_sensitive=True, env_ignore_empty=True)
        names = {field.validation_alias for field in settings_cls.model_fields.values()}
        self.env_vars = {name: value for name, value in env.items() if name in names and value}


def min_insync_replicas(replication: int) -> int:
    """Acknowledged writes survive the loss of one replica once there are three: RF 3 gives
    min ISR 2 (RF 1 or 2: 1, so that one broker down does not stop every write)."""
    return max(1, min(2, replication - 1))


def load() -> Settings:
    return Settings.from_env()
