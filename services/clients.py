"""Kafka client factories with Accord's defaults, so every process talks to Kafka the same
way: idempotent producers that wait for all replicas, read_committed consumers, one admin.
Audit gets consumers only, as its own read-only principal when one is configured."""

from __future__ import annotations

import socket
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaTimeoutError, SaslAuthenticationFailedError

from services.settings import Settings


def connection(settings: Settings, *, audit: bool = False) -> dict[str, Any]:
    """Where and as whom to connect: the services' principal, or (audit=True) the audit
    principal when one is configured, else the services' settings."""
    if audit and settings.audit_principal:
        bootstrap = settings.audit_bootstrap_servers or settings.bootstrap_servers
        protocol, username, password = (
            settings.audit_protocol,
            settings.audit_kafka_username,
            settings.audit_kafka_password,
        )
    else:
        bootstrap = settings.bootstrap_servers
        protocol, username, password = (
            settings.security_protocol,
            settings.sasl_username,
            settings.sasl_password,
        )
    options: dict[str, Any] = {"bootstrap_servers": bootstrap, "security_protocol": protocol}
    if protocol.startswith("SASL"):
        options.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=username,
            sasl_plain_password=password.get_secret_value() if password else None,
        )
    if protocol.endswith("SSL") and settings.ssl_cafile:
        options["ssl_cafile"] = str(settings.ssl_cafile)
    return options


def producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    # Deliberately no `audit` switch: the audit principal never gets a producer.
    options: dict[str, Any] = {
        **connection(settings),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "compression_type": None,
        "client_id": "accord",
    }
    options.update(overrides)
    return KafkaProducer(**options)


def consumer(settings: Settings, *topics: str, **overrides: Any) -> KafkaConsumer:
    return _consumer(connection(settings), topics, overrides)


def audit_consumer(settings: Settings, *topics: str, **overrides: Any) -> KafkaConsumer:
    """A consumer for `accord audit`: as the audit principal (ACCORD_AUDIT_KAFKA_USERNAME) at
    ACCORD_AUDIT_BOOTSTRAP_SERVERS when configured, otherwise as the services. It never commits."""
    connect = connection(settings, audit=True)
    try:
        return _consumer(connect, topics, {**overrides, "enable_auto_commit": False})
    except KafkaTimeoutError as exc:
        # A broker that refuses a SASL login just closes the socket, which kafka-python retries
        # until its bootstrap times out; say what most likely went wrong.
        if settings.audit_principal and _listening(connect["bootstrap_servers"]):
            raise SaslAuthenticationFailedError(
                f"{connect['bootstrap_servers']} did not let the audit principal "
                f"{settings.audit_kafka_username!r} in: check ACCORD_AUDIT_KAFKA_USERNAME and "
                f"ACCORD_AUDIT_KAFKA_PASSWORD, and that this listener speaks {connect['security_protocol']} "
                f"with {settings.sasl_mechanism}"
            ) from exc
        raise


def _listening(bootstrap_servers: str) -> bool:
    host, port = bootstrap_servers.split(",")[0].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def _consumer(connect: dict[str, Any], topics: tuple[str, ...], overrides: dict[str, Any]) -> KafkaConsumer:
    options: dict[str, Any] = {
        **connect,
        "isolation_level": "read_committed",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "client_id": "accord",
    }
    options.update(overrides)
    return KafkaConsumer(*topics, **options)


def admin(settings: Settings, **overrides: Any) -> KafkaAdminClient:
    options: dict[str, Any] = {**connection(settings), "client_id": "accord"}
    options.update(overrides)
    return KafkaAdminClient(**options)
