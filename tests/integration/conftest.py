"""Fixtures for tests against the real broker that `make test` starts. Every test gets its own
topics and group ids; every client a factory opens is closed afterwards."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator

import pytest
from kafka import KafkaConsumer, KafkaProducer

from events.topics import KEEP_FOREVER, Topic
from services import broker, clients, processes, topics
from services.privacy import KeyStore
from services.settings import Settings
from services.watch import Watcher

PG_URL = os.environ.get("ACCORD_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def settings() -> Settings:
    current = Settings.from_env()
    if not broker.answers(current):
        pytest.fail(
            f"no Kafka broker answers at {current.bootstrap_servers}: run `make test`, "
            "or start one with `accord broker start`",
            pytrace=False,
        )
    return current


@pytest.fixture
def unique() -> Callable[[str], str]:
    run = uuid.uuid4().hex[:8]
    return lambda name: f"test.{name}.{run}"


@pytest.fixture
def new_topic(settings: Settings, unique: Callable[[str], str]) -> Callable[..., str]:
    def make(name: str, partitions: int = 3) -> str:
        topic = Topic(unique(name), "test topic", key="-", carries="raw", config=KEEP_FOREVER)
        topics.create(settings, [topic], partitions=partitions)
        return topic.name

    return make


@pytest.fixture
def producer(settings: Settings) -> Iterator[Callable[..., KafkaProducer]]:
    opened: list[KafkaProducer] = []

    def make(**overrides: object) -> KafkaProducer:
        opened.append(clients.producer(settings, **overrides))
        return opened[-1]

    yield make
    for client in opened:
        client.close(timeout=5)


@pytest.fixture
def consumer(settings: Settings) -> Iterator[Callable[..., KafkaConsumer]]:
    opened: list[KafkaConsumer] = []

    def make(*topic_names: str, **overrides: object) -> KafkaConsumer:
        opened.append(clients.consumer(settings, *topic_names, **overrides))
        return opened[-1]

    yield make
    for client in opened:
        client.close()


def drain(consumer: KafkaConsumer, expected: int, timeout_s: float = 20.0) -> list:
    """Poll until `expected` records arrived (or the time is up); return them in arrival order."""
    import time

    records: list = []
    deadline = time.monotonic() + timeout_s
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


def free_ports(count: int, start: int = 19400) -> int:
    """The first of `count` consecutive free ports on loopback."""
    for base in range(start, start + 2000, count):
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def running(settings: Settings, tmp_path_factory) -> Iterator[Settings]:
    """Every service (six steps, the projections and insights) as a separate process, with their stores
    in a fresh data directory."""
    topics.create(settings)
    local = settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("steps")})
    os.environ["ACCORD_TICK_SECONDS"] = "1"
    # Decisions dated by the inputs' own time: live tests send the current time, and the CFPB
    # replay sends the complaints' historic times.
    os.environ["ACCORD_CLOCK"] = "message"
    os.environ["ACCORD_API_PORT"] = str(free_port())
    os.environ["ACCORD_METRICS_PORT"] = str(free_ports(10))
    # the web services: the console (with the customer's page) and the channels' gateway
    os.environ["ACCORD_CONSOLE_PORT"] = str(free_port())
    os.environ["ACCORD_GATEWAY_PORT"] = str(free_port())
    os.environ["ACCORD_INSIGHTS_PORT"] = str(free_port())
    local = local.model_copy(
        update={
            "api_port": int(os.environ["ACCORD_API_PORT"]),
            "metrics_port": int(os.environ["ACCORD_METRICS_PORT"]),
            "console_port": int(os.environ["ACCORD_CONSOLE_PORT"]),
            "gateway_port": int(os.environ["ACCORD_GATEWAY_PORT"]),
        }
    )
    for service in processes.SERVICES:
        processes.start(local, service)
    yield local
    processes.down(local)


@pytest.fixture(scope="session")
def web(running: Settings) -> Settings:
    """The running services, once the console and the gateway answer."""
    from tests.integration.web import wait_until_up

    wait_until_up(running)
    return running


@pytest.fixture(scope="session")
def watcher(running: Settings) -> Iterator[Watcher]:
    w = Watcher(running, from_beginning=True)
    yield w
    w.close()


@pytest.fixture(scope="session")
def live_producer(running: Settings):
    p = clients.producer(running)
    p.keys = KeyStore(running)  # a channel seals personal data with the customers' keys
    yield p
    p.close()


def _postgres_url() -> str:
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("ACCORD_TEST_DATABASE_URL is not set: `make test` starts PostgreSQL", pytrace=False)
        pytest.skip("no PostgreSQL (run `make test`, which starts one)")
    return f"{PG_URL}?schema=t_{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str | None:
    return None if request.param == "sqlite" else _postgres_url()
