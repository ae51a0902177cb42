"""`python -m bench.scale`: the pipeline with 1, 2 and 3 instances of every step, on its own
broker — throughput (complaints to a closed case), submission-to-view latency at half that
rate, and failover (SIGKILL of the instance of a step that owns partition 0, to the first event
its successor publishes on that partition), each from a fresh broker and data directory.

    python -m bench.scale                      # 1,2,3 instances, 120 cases, 10 s latency runs
    python -m bench.scale --instances 1,3 --cases 300

Writes .accord/bench-scale/results.json and prints a table. On a machine with two cores the
throughput cannot grow with instances (BENCHMARKS.md says why)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import TopicPartition

from bench import pipeline
from events.codec import decode
from events.envelope import Envelope
from events.topics import event_topic
from services import broker, clients, processes, publish, topics
from services.privacy import KeyStore
from services.settings import ROOT, Settings
from services.steps.registry import NAMES

DATA = ROOT / ".accord" / "bench-scale"
VICTIM_STEP = "contact"  # whose instance is killed for the failover figure


def _say(text: str) -> None:
    print(text, flush=True)


def _owners(settings: Settings, step: str, count: int) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for k in range(count):
        state = processes.health(settings, step, timeout_s=2, instance=k)
        if state is not None:
            out[k] = list(state.get("partitions") or [])
    return out


def _ready(settings: Settings, count: int, timeout_s: float = 240) -> float:
    """Seconds until every step's partitions are all owned, shared by all its instances."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        done = True
        for step in NAMES:
            owners = _owners(settings, step, count)
            owned = sorted(n for numbers in owners.values() for n in numbers)
            if owned != list(range(settings.partitions)) or sum(1 for o in owners.values() if o) != min(
                count, settings.partitions
            ):
                done = False
                break
        if done:
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"the steps never shared out their partitions: see {settings.data_dir / 'logs'}")


class Steady:
    """Complaints submitted at a steady rate, as a channel does, until stopped."""

    def __init__(self, settings: Settings, rate: float) -> None:
        self.settings, self.rate = settings, rate
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.sent = 0

    def _run(self) -> None:
        producer = clients.producer(self.settings, linger_ms=0)
        keys = KeyStore(self.settings)
        run = uuid.uuid4().hex[:6]
        try:
            while not self.stop.is_set():
                for sub in pipeline.submissions(10, f"F{run}{self.sent}"):
                    publish.send(producer, sub, keys)
                    self.sent += 1
                    time.sleep(1 / self.rate)
        finally:
            producer.close()
            keys.close()

    def __enter__(self) -> Steady:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def failover(settings: Settings, count: int) -> dict[str, Any]:
    """Under a steady load, SIGKILL the instance of VICTIM_STEP that owns partition 0; time to
    the first event on that partition of the step's topic decided after the kill (so by the
    new owner: what the victim left open is aborted, never read), and to every partition owned
    again."""
    topic = TopicPartition(event_topic(VICTIM_STEP).name, 0)
    reader = clients.consumer(settings, client_id="bench-failover", isolation_level="read_committed")
    reader.assign([topic])
    reader.seek_to_end(topic)
    reader.position(topic)
    first_event = owned_again = None
    try:
        with Steady(settings, rate=20):
            time.sleep(5)
            owners = _owners(settings, VICTIM_STEP, count)
            victim = next(k for k, numbers in owners.items() if 0 in numbers)
            pid = processes.running(settings, VICTIM_STEP, victim)
            assert pid is not None
            killed, killed_at = time.monotonic(), datetime.now(UTC)
            os.kill(pid, signal.SIGKILL)
            while time.monotonic() - killed < 120 and (first_event is None or owned_again is None):
                for records in reader.poll(timeout_ms=100).values():
                    for record in records:
                        if first_event is None and decode(Envelope, record.value).occurred_at > killed_at:
                            first_event = time.monotonic() - killed
                if owned_again is None:
                    live = {k: v for k, v in _owners(settings, VICTIM_STEP, count).items() if k != victim}
                    if sorted(n for v in live.values() for n in v) == list(range(settings.partitions)):
                        owned_again = time.monotonic() - killed
    finally:
        reader.close()
    return {
        "step": VICTIM_STEP,
        "session_timeout_s": settings.session_timeout_s,
        "to_first_event_s": round(first_event, 1) if first_event is not None else None,
        "to_all_partitions_owned_s": round(owned_again, 1) if owned_again is not None else None,
    }


def one(
    count: int,
    cases: int,
    latency_s: float,
    base: dict[str, str],
    with_failover: bool = True,
    warm_up: bool = False,
) -> dict[str, Any]:
    """One instance count on a fresh broker; with `warm_up`, an untimed pipeline of half the
    cases first (as `make bench` times its main stages)."""
    data = Path(base["ACCORD_DATA_DIR"]) / f"n{count}"
    shutil.rmtree(data, ignore_errors=True)
    env = {**base, "ACCORD_DATA_DIR": str(data)}
    os.environ.update(env)
    settings = Settings.from_env({**os.environ, **env})
    broker.start(settings, log=lambda _: None)
    topics.create(settings)
    try:
        processes.up(settings, counts={step: count for step in NAMES})
        ready = _ready(settings, count)
        _say(f"  {count} instance(s) per step: partitions shared out in {ready:.1f}s")
        result: dict[str, Any] = {"instances": count}
        if warm_up:
            pipeline.run(settings, max(1, cases // 2), timeout_s=900)
        result["pipeline"] = pipeline.run(settings, cases, timeout_s=900)
        _say(f"    pipeline {result['pipeline']}")
        rate = result["pipeline"]["cases_per_second"]
        result["latency_50"] = pipeline.latency(settings, rate * 0.5, latency_s) if rate else None
        _say(f"    latency at 50% {result['latency_50']}")
        if count > 1 and with_failover:
            result["failover"] = failover(settings, count)
            _say(f"    failover {result['failover']}")
        return result
    finally:
        processes.down(settings)
        broker.stop(settings, log=lambda _: None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", default="1,2,3", help="instance counts per step (1,2,3)")
    parser.add_argument("--cases", type=int, default=120, help="complaints through the pipeline per count")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    data = Path(os.environ.get("BENCH_DATA_DIR", str(DATA)))
    base = {
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get("BENCH_BOOTSTRAP_SERVERS", "127.0.0.1:38092"),
        "ACCORD_DATA_DIR": str(data),
        "ACCORD_METRICS_PORT": os.environ.get("BENCH_METRICS_PORT", "9800"),
        "ACCORD_API_PORT": "0",
        "ACCORD_CONSOLE_PORT": "0",
        "ACCORD_GATEWAY_PORT": "0",
    }
    results = {
        "machine": {"cores": os.cpu_count()},
        "runs": [one(int(n), args.cases, args.latency_seconds, base) for n in args.instances.split(",")],
    }
    data.mkdir(parents=True, exist_ok=True)
    (data / "results.json").write_text(json.dumps(results, indent=2))
    columns = [
        "instances per step",
        "cases/s",
        "events/s",
        "p50 ms",
        "p99 ms (50% load)",
        "failover: first event",
    ]
    _say("\n| " + " | ".join([*columns, "all owned"]) + " |")
    _say("|" + "---|" * (len(columns) + 1))
    for run in results["runs"]:
        p, lat, f = run["pipeline"], run.get("latency_50") or {}, run.get("failover") or {}
        cells = [
            run["instances"],
            p["cases_per_second"],
            p["events_per_second"],
            lat.get("p50_ms"),
            lat.get("p99_ms"),
            f"{f.get('to_first_event_s', '-')} s",
            f"{f.get('to_all_partitions_owned_s', '-')} s",
        ]
        _say("| " + " | ".join(str(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
