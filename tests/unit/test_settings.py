from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.settings import Settings


def test_defaults_follow_the_public_contract() -> None:
    settings = Settings.from_env({})
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.partitions == 6


def test_environment_overrides_each_setting() -> None:
    settings = Settings.from_env(
        {"KAFKA_BOOTSTRAP_SERVERS": "localhost:19092", "ACCORD_PARTITIONS": "3", "ACCORD_DATA_DIR": "/tmp/x"}
    )
    assert (settings.broker_host, settings.broker_port) == ("localhost", 19092)
    assert settings.partitions == 3 and settings.data_dir == Path("/tmp/x")


def test_a_bad_setting_is_refused_with_its_name() -> None:
    with pytest.raises(ValidationError, match="partitions"):
        Settings.from_env({"ACCORD_PARTITIONS": "0"})
