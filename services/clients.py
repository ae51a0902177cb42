"""Kafka client factories with Accord's defaults, so every process talks to Kafka the same
way: idempotent producers that wait for all replicas, read_committed consumers, one admin."""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from services.settings import Settings


def producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "compression_type": None,
        "client_id": "accord",
    }
    options.update(overrides)
    return KafkaProducer(**options)


def consumer(settings: Settings, *topics: str, **overrides: Any) -> KafkaConsumer:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "isolation_level": "read_committed",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "client_id": "accord",
    }
    options.update(overrides)
    return KafkaConsumer(*topics, **options)


def admin(settings: Settings, **overrides: Any) -> KafkaAdminClient:
    options: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_servers, "client_id": "accord"}
    options.update(overrides)
    return KafkaAdminClient(**options)
