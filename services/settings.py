"""The one settings object: every process reads its configuration here, from the environment."""

from __future__ import annotations

import os
from pathlib import Path

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
        }
        given = {field: env[var] for field, var in names.items() if env.get(var)}
        return cls.model_validate(given)


def load() -> Settings:
    return Settings.from_env()
