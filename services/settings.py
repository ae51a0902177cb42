"""The one settings object: every process reads its configuration here, from the environment."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseModel):
    """Accord's configuration. Each field maps to one environment variable (see README)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str = Field(default="127.0.0.1:9092")  # KAFKA_BOOTSTRAP_SERVERS
    data_dir: Path = Field(default=ROOT / ".accord")  # ACCORD_DATA_DIR
    kafka_home: Path = Field(default=ROOT / "deploy" / ".cache" / "kafka")  # ACCORD_KAFKA_HOME
    partitions: int = Field(default=6, ge=1)  # ACCORD_PARTITIONS
    replication_factor: int = Field(default=1, ge=1)  # ACCORD_REPLICATION_FACTOR
    broker_heap: str = Field(default="512m")  # ACCORD_BROKER_HEAP
    broker_start_timeout_s: float = Field(default=90.0, gt=0)  # ACCORD_BROKER_START_TIMEOUT
    database_url: str | None = None  # ACCORD_DATABASE_URL: postgresql://... (default: SQLite)
    metrics_port: int = Field(default=9400, ge=0)  # ACCORD_METRICS_PORT: base port, 0 = off
    api_port: int = Field(default=8088, ge=0)  # ACCORD_API_PORT: read-only case API, 0 = off
    clock: Literal["wall", "message"] = "wall"  # ACCORD_CLOCK: "message" replays history
    tick_seconds: float = Field(default=5.0, gt=0)  # ACCORD_TICK_SECONDS: timer resolution
    # Workflow rules (see docs/workflow.md).
    policy: Literal["CN-2020", "UK-FCA", "US-CFPB"] = "CN-2020"  # ACCORD_POLICY
    first_contact_hours: int = Field(default=24, ge=1)  # ACCORD_FIRST_CONTACT_HOURS
    approval_limit: Decimal = Field(default=Decimal("10000"), ge=0)  # ACCORD_APPROVAL_LIMIT
    max_rounds: int = Field(default=3, ge=1, le=20)  # ACCORD_MAX_ROUNDS
    reopen_days: int = Field(default=14, ge=0)  # ACCORD_REOPEN_DAYS
    awaiting_customer_counts: bool = True  # ACCORD_AWAITING_CUSTOMER_COUNTS
    handlers: str = "H-001:retail,H-002:retail,H-003:cards,H-004:wealth"  # ACCORD_HANDLERS
    default_tolerance_missed: int = Field(default=2, ge=1)  # ACCORD_MISSED_INSTALMENTS_TO_DEFAULT

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
    def broker_host(self) -> str:
        return self.bootstrap_servers.split(",")[0].rsplit(":", 1)[0]

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        names = {
            "bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
            "data_dir": "ACCORD_DATA_DIR",
            "kafka_home": "ACCORD_KAFKA_HOME",
            "partitions": "ACCORD_PARTITIONS",
            "replication_factor": "ACCORD_REPLICATION_FACTOR",
            "broker_heap": "ACCORD_BROKER_HEAP",
            "broker_start_timeout_s": "ACCORD_BROKER_START_TIMEOUT",
            "database_url": "ACCORD_DATABASE_URL",
            "metrics_port": "ACCORD_METRICS_PORT",
            "api_port": "ACCORD_API_PORT",
            "clock": "ACCORD_CLOCK",
            "tick_seconds": "ACCORD_TICK_SECONDS",
            "policy": "ACCORD_POLICY",
            "first_contact_hours": "ACCORD_FIRST_CONTACT_HOURS",
            "approval_limit": "ACCORD_APPROVAL_LIMIT",
            "max_rounds": "ACCORD_MAX_ROUNDS",
            "reopen_days": "ACCORD_REOPEN_DAYS",
            "awaiting_customer_counts": "ACCORD_AWAITING_CUSTOMER_COUNTS",
            "handlers": "ACCORD_HANDLERS",
            "default_tolerance_missed": "ACCORD_MISSED_INSTALMENTS_TO_DEFAULT",
        }
        given = {field: env[var] for field, var in names.items() if env.get(var)}
        return cls.model_validate(given)


def load() -> Settings:
    return Settings.from_env()
