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


# -- Kafka principals (docs/security.md) -------------------------------------------------------
AUDITOR = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
    "ACCORD_AUDIT_KAFKA_USERNAME": "auditor",
    "ACCORD_AUDIT_KAFKA_PASSWORD": "s3cret-audit",
}


def test_by_default_services_and_audit_connect_in_plaintext_as_the_same_client() -> None:
    from services.clients import connection

    settings = Settings.from_env({})
    assert settings.security_protocol == "PLAINTEXT" and settings.sasl_mechanism == "PLAIN"
    assert not settings.audit_principal and settings.audit_protocol == "PLAINTEXT"
    assert (
        connection(settings, audit=True)
        == connection(settings)
        == {
            "bootstrap_servers": "127.0.0.1:9092",
            "security_protocol": "PLAINTEXT",
        }
    )


def test_the_local_brokers_sasl_listener_sits_two_ports_above_the_broker() -> None:
    assert Settings.from_env({}).broker_sasl_listener_port == 9094
    assert (
        Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092"}).broker_sasl_listener_port == 19094
    )
    chosen = Settings.from_env({"ACCORD_BROKER_SASL_PORT": "9999"})
    assert chosen.broker_sasl_listener_port == 9999


def test_a_sasl_port_on_the_broker_or_controller_port_is_refused() -> None:
    for port in ("9092", "9093"):
        with pytest.raises(ValidationError, match="collides"):
            Settings.from_env({"ACCORD_BROKER_SASL_PORT": port})


def test_services_sasl_settings_reach_every_client() -> None:
    from services.clients import connection

    settings = Settings.from_env(
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "accord-intake",
            "KAFKA_SASL_PASSWORD": "s3cret-service",
            "KAFKA_SSL_CAFILE": "/etc/ssl/kafka-ca.pem",
        }
    )
    assert connection(settings) == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "accord-intake",
        "sasl_plain_password": "s3cret-service",
        "ssl_cafile": "/etc/ssl/kafka-ca.pem",
    }


def test_a_sasl_protocol_without_credentials_is_refused() -> None:
    with pytest.raises(ValidationError, match="KAFKA_SASL_USERNAME"):
        Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "svc"})


def test_an_unknown_protocol_or_mechanism_is_refused_with_its_name() -> None:
    with pytest.raises(ValidationError, match="security_protocol"):
        Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL_PLAINTEXT"})
    with pytest.raises(ValidationError, match="sasl_mechanism"):
        Settings.from_env({"KAFKA_SASL_MECHANISM": "GSSAPI"})


def test_an_audit_username_means_sasl_at_the_services_address_unless_told_otherwise() -> None:
    from services.clients import connection

    settings = Settings.from_env(AUDITOR)
    assert settings.audit_principal and settings.audit_protocol == "SASL_PLAINTEXT"
    assert connection(settings, audit=True) == {
        "bootstrap_servers": "127.0.0.1:19092",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "auditor",
        "sasl_plain_password": "s3cret-audit",
    }
    assert connection(settings) == {"bootstrap_servers": "127.0.0.1:19092", "security_protocol": "PLAINTEXT"}
    elsewhere = Settings.from_env(
        {
            **AUDITOR,
            "ACCORD_AUDIT_BOOTSTRAP_SERVERS": "kafka:9096",
            "ACCORD_AUDIT_SECURITY_PROTOCOL": "SASL_SSL",
        }
    )
    assert connection(elsewhere, audit=True)["bootstrap_servers"] == "kafka:9096"
    assert connection(elsewhere, audit=True)["security_protocol"] == "SASL_SSL"


def test_an_audit_username_without_its_password_is_refused() -> None:
    with pytest.raises(ValidationError, match="ACCORD_AUDIT_KAFKA_PASSWORD"):
        Settings.from_env({"ACCORD_AUDIT_KAFKA_USERNAME": "auditor"})


def test_passwords_never_show_in_a_repr_or_a_refusal() -> None:
    settings = Settings.from_env(
        {**AUDITOR, "KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD": "s3cret-service"}
    )
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    assert "s3cret" not in shown
    with pytest.raises(ValidationError) as refused:
        Settings.from_env(
            {**AUDITOR, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_PASSWORD": "s3cret-x"}
        )
    assert "s3cret" not in str(refused.value)


def test_settings_stay_frozen_and_strict() -> None:
    settings = Settings.from_env(AUDITOR)
    with pytest.raises(ValidationError):
        settings.audit_kafka_username = "someone-else"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        Settings.model_validate({"audit_kafka_role": "writer"})


def test_an_empty_instance_number_is_refused_not_taken_for_instance_zero() -> None:
    with pytest.raises(ValueError, match="ACCORD_INSTANCE is set but empty"):
        Settings.from_env({"ACCORD_INSTANCE": ""})
    assert Settings.from_env({}).instance == 0
    assert Settings.from_env({"ACCORD_INSTANCE": "2"}).instance == 2
