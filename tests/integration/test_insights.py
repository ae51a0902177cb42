"""The insights service (faust-streaming) on the real broker, on its own topics: a burst raises
one SurgeDetected per window and normal traffic none; after a SIGKILL mid-stream its tables come
back from their changelogs, every complaint is counted exactly once and no finding changes its id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from kafka import TopicPartition

from events.codec import decode, encode, headers_for
from events.envelope import Envelope
from services.insights import facts
from services.rules import risk
from tests.insights_data import now, proposed, registered
from tests.integration.conftest import drain, free_port

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 3


class Insights:
    """`accord run insights` as a child process on the test's own topics and app id."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.proc = env, log, None  # type: ignore[var-annotated]
        self.port = int(env["ACCORD_INSIGHTS_PORT"])

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(  # type: ignore[assignment]
                [sys.executable, "-m", "services.cli", "run", "insights"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)

    def windows(self) -> dict[str, int]:
        """Complaints counted per window, by branch and day."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/windows/", timeout=5) as reply:
                rows = json.loads(reply.read())
        except OSError:
            return {}
        return {f"{w['group'][0]}|{w['day']}": w["complaints"] for w in rows}

    def wait_windows(self, want: dict[str, int], timeout_s: float = 120) -> dict[str, int]:
        deadline = time.monotonic() + timeout_s
        got: dict[str, int] = {}
        while time.monotonic() < deadline:
            got = self.windows()
            if all(got.get(k, 0) >= n for k, n in want.items()):
                return got
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            time.sleep(0.5)
        raise AssertionError(f"windows {got}, wanted {want}\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def insights(settings, new_topic, unique, tmp_path) -> Iterator[Callable[..., Insights]]:
    started: list[Insights] = []

    def make(**overrides: str) -> Insights:
        source = new_topic("insights-in", partitions=PARTITIONS)
        output = new_topic("insights-out", partitions=PARTITIONS)
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "ACCORD_DATA_DIR": str(tmp_path / "data"),
            "ACCORD_INSIGHTS_APP_ID": unique("insights").replace(".", "-"),
            "ACCORD_INSIGHTS_INPUTS": source,
            "ACCORD_INSIGHTS_OUTPUT": output,
            "ACCORD_INSIGHTS_PORT": str(free_port()),
            "ACCORD_METRICS_PORT": "0",
            "ACCORD_PARTITIONS": str(PARTITIONS),
            "ACCORD_SURGE_MIN_COUNT": "10",
            "ACCORD_SURGE_FACTOR": "3",
            "ACCORD_SURGE_BASELINE_DAYS": "7",
            **overrides,
        }
        service = Insights(env, tmp_path / f"insights-{len(started)}.log")
        service.source, service.output = source, output  # type: ignore[attr-defined]
        started.append(service)
        service.start()
        return service

    yield make
    for service in started:
        service.kill()


def publish(producer, topic: str, cases: list[tuple[str, str, object]]) -> None:
    send(producer, topic, [e for case, branch, at in cases for e in registered(case, branch, at)])  # type: ignore[arg-type]


def send(producer, topic: str, envelopes: list[Envelope]) -> None:
    for envelope in envelopes:
        producer.send(
            topic, key=envelope.case_id.encode(), value=encode(envelope), headers=headers_for(envelope)
        )
    producer.flush()


def flagged(events: list[Envelope]) -> dict[str, str]:
    """The RiskScored ids the pure core gives these events, in this order, with the stored model."""
    records: dict[str, dict] = {}
    out: dict[str, str] = {}
    for envelope in events:
        record = facts.absorb(records.get(envelope.case_id) or facts.new_record(), envelope)
        finding = facts.risk_finding(record, envelope, risk.model())
        if finding is not None:
            out[envelope.case_id] = str(finding.event_id)
            record = {**record, "finding": "recorded"}
        records[envelope.case_id] = record
    return out


def surges(consumer, quiet_s: float = 6.0) -> list[tuple[bytes, Envelope]]:
    """Every finding on the output topic, read until it has been quiet for `quiet_s`."""
    found: list = []
    last = time.monotonic()
    while time.monotonic() - last < quiet_s:
        batch = drain(consumer, expected=1, timeout_s=1)
        if batch:
            found += batch
            last = time.monotonic()
    return [(r.value, decode(Envelope, r.value)) for r in found]


def test_a_burst_raises_exactly_one_surge_per_window_and_normal_traffic_none(
    insights, producer, consumer, unique
) -> None:
    service = insights()
    today = now()
    run = unique("x").split(".")[-1]
    burst, normal, older = f"B-BURST-{run}", f"B-NORMAL-{run}", f"B-OLD-{run}"
    cases = [(f"C{run}B{i:03d}", burst, today) for i in range(25)]
    # Normal traffic: 3 a day for a week and today, under the rule's minimum of 10.
    cases += [(f"C{run}N{d}{i}", normal, today - timedelta(days=d)) for d in range(8) for i in range(3)]
    # A burst on an earlier day is its own window.
    cases += [(f"C{run}O{i:03d}", older, today - timedelta(days=3)) for i in range(12)]
    plain = producer()
    # Two cases scored for dispute risk: a risk explanation on an app complaint, a refund by phone.
    risky = [*registered(f"C{run}R1", f"B-R-{run}", today, channel="app"), proposed(f"C{run}R1", today)]
    calm = [
        *registered(f"C{run}R2", f"B-R-{run}", today, channel="hotline"),
        proposed(f"C{run}R2", today, "refund"),
    ]
    everything = [e for case, branch, at in cases for e in registered(case, branch, at)] + risky + calm  # type: ignore[arg-type]
    send(plain, service.source, everything)
    send(plain, service.source, everything[:10] + risky)  # redelivered: counted once, flagged once
    day, before = today.date().isoformat(), (today - timedelta(days=3)).date().isoformat()
    counts = service.wait_windows({f"{burst}|{day}": 25, f"{older}|{before}": 12, f"{normal}|{day}": 3})
    assert (
        counts[f"{burst}|{day}"] == 25
        and counts[f"{older}|{before}"] == 12
        and counts[f"{normal}|{day}"] == 3
    )
    found = surges(consumer(service.output, group_id=f"check-{service.output}"))
    by_branch: dict[str, set] = {}
    for _, envelope in found:
        if envelope.type == "SurgeDetected":
            by_branch.setdefault(envelope.event.branch_id, set()).add(envelope.event_id)  # type: ignore[union-attr]
    assert {b: len(ids) for b, ids in by_branch.items()} == {burst: 1, older: 1}, service.tail()
    risk_ids = {(e.case_id, str(e.event_id)) for _, e in found if e.type == "RiskScored"}
    want = flagged(everything)
    assert f"C{run}R1" in want and f"C{run}R2" not in want  # the stored model flags one, not the other
    assert risk_ids == set(want.items()) and len([1 for _, e in found if e.type == "RiskScored"]) == len(want)
    first = next(e for _, e in found if e.type == "SurgeDetected" and e.event.branch_id == burst)  # type: ignore[union-attr]
    assert first.event.complaints == 10 and first.event.required == 10  # type: ignore[union-attr]


def _committed(settings, app_id: str, topic: str) -> int:
    from services import clients

    probe = clients.consumer(settings, group_id=app_id, enable_auto_commit=False)
    try:
        return sum(probe.committed(TopicPartition(topic, p)) or 0 for p in range(PARTITIONS))
    finally:
        probe.close()


def test_after_sigkill_the_tables_come_back_and_no_finding_changes_id(
    settings, insights, producer, consumer, unique
) -> None:
    service = insights()
    today = now()
    day = today.date().isoformat()
    run = unique("x").split(".")[-1]
    a, b = f"B-A-{run}", f"B-B-{run}"
    plain = producer()
    # 8 complaints for B, processed and committed: after the kill only the changelog has them.
    publish(plain, service.source, [(f"C{run}B{i:03d}", b, today) for i in range(8)])
    service.wait_windows({f"{b}|{day}": 8})
    deadline = time.monotonic() + 60
    while _committed(settings, service.env["ACCORD_INSIGHTS_APP_ID"], service.source) < 16:
        assert time.monotonic() < deadline, "faust never committed the first complaints"
        time.sleep(0.5)
    # A burst for A; killed as soon as A's surge is out, with the rest of the burst in flight.
    publish(plain, service.source, [(f"C{run}A{i:03d}", a, today) for i in range(60)])
    check = consumer(service.output, group_id=f"check-{service.output}")
    before: list = []
    while not before:
        before = drain(check, expected=1, timeout_s=60)
        assert before, service.tail()
    service.kill(signal.SIGKILL)
    # Restarted: 4 more for B (a surge only with the 8 recovered) and 5 more for A.
    service.start()
    publish(plain, service.source, [(f"C{run}B{i:03d}", b, today) for i in range(8, 12)])
    publish(plain, service.source, [(f"C{run}A{i:03d}", a, today) for i in range(60, 65)])
    service.wait_windows({f"{b}|{day}": 12, f"{a}|{day}": 65}, timeout_s=90)
    counts = service.windows()
    # B's first 8 are only in the changelog: the table came back from it. Every complaint of the
    # burst is counted, none twice.
    assert counts[f"{b}|{day}"] == 12 and counts[f"{a}|{day}"] == 65, counts
    found = [(r.value, decode(Envelope, r.value)) for r in before] + surges(check)
    ids: dict[str, set] = {}
    bytes_by_id: dict[str, set] = {}
    for data, envelope in found:
        ids.setdefault(envelope.event.branch_id, set()).add(envelope.event_id)  # type: ignore[union-attr]
        bytes_by_id.setdefault(str(envelope.event_id), set()).add(data)
    assert {k: len(v) for k, v in ids.items()} == {a: 1, b: 1}, service.tail()
    assert all(len(v) == 1 for v in bytes_by_id.values()), "a finding was re-sent with other content"
