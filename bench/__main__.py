"""`make bench`: Accord against the raw Kafka baseline, on its own broker, in one run; prints
one table and writes .accord/bench/results.json. See BENCHMARKS.md.

    python -m bench                    # the sizes of BENCHMARKS.md (BENCH_* variables)
    python -m bench --smoke            # every stage at tiny sizes: that it runs, not how fast
    python -m bench --history 1000000  # and rebuild and verify over a long history (BENCH_HISTORY)"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import baseline, history, pipeline
from events.topics import STEP_TOPICS
from projections import rebuild
from services import broker, processes, topics
from services.settings import ROOT, Settings

DATA = ROOT / ".accord" / "bench"
# The smoke run (`--smoke`, run by the test suite): every stage, at sizes that take seconds.
SMOKE = {
    "cases": 6,
    "messages": 300,
    "memory_cases": "200,400",
    "latency_seconds": 3.0,
    "history": 2000,
    "instances": "2",
}
TICK = os.sysconf("SC_CLK_TCK")


def _say(text: str) -> None:
    print(text, flush=True)


def _cpu(stat: str) -> float:
    """CPU seconds (user + system) in a /proc stat line of a process or a thread."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _usage(pid: int) -> tuple[float, float]:
    """(CPU seconds used, peak resident MiB) of a process."""
    cpu = _cpu(Path(f"/proc/{pid}/stat").read_text())
    peak = (
        next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmHWM:")
        )
        / 1024
    )
    return cpu, peak


def _compiling(pid: int) -> float:
    """CPU seconds a JVM's JIT compiler threads have used (a fresh broker compiles for minutes)."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        if "Compiler" in stat[stat.index("(") + 1 : stat.rindex(")")]:
            total += _cpu(stat)
    return total


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="every stage at tiny sizes (seconds)")
    parser.add_argument("--cases", type=int, help="complaints through the pipeline (BENCH_CASES, 600)")
    parser.add_argument("--messages", type=int, help="messages through the raw chain (BENCH_MESSAGES, 20000)")
    parser.add_argument(
        "--memory-cases", help="checkpoints of the memory stage (BENCH_MEMORY_CASES, 10000,100000)"
    )
    parser.add_argument(
        "--latency-seconds", type=float, help="length of each latency run (BENCH_LATENCY_SECONDS, 20)"
    )
    parser.add_argument(
        "--instances",
        help="also run the pipeline and its latency with this many instances of every step, each "
        "count on a fresh broker of its own (BENCH_INSTANCES, 2; comma-separated; empty = none)",
    )
    parser.add_argument(
        "--history",
        type=int,
        help="events in the long history that rebuild and verify are timed over, on a broker of its "
        "own (BENCH_HISTORY, 0 = no such stage; 1,000,000 takes about 7 minutes)",
    )
    args = parser.parse_args(argv)
    env = os.environ.get
    defaults = (
        SMOKE
        if args.smoke
        else {
            "cases": int(env("BENCH_CASES", "600")),
            "messages": int(env("BENCH_MESSAGES", "20000")),
            "memory_cases": env("BENCH_MEMORY_CASES", "10000,100000"),
            "latency_seconds": float(env("BENCH_LATENCY_SECONDS", "20")),
            "history": int(env("BENCH_HISTORY", "0")),
            "instances": env("BENCH_INSTANCES", "2"),
        }
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    cases, messages = args.cases, args.messages
    memory_points = str(args.memory_cases).split(",")
    # Its own broker, data and ports, so a demo or test broker is left alone.
    data = Path(os.environ.get("BENCH_DATA_DIR", str(DATA)))
    shutil.rmtree(data, ignore_errors=True)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get("BENCH_BOOTSTRAP_SERVERS", "127.0.0.1:39092"),
        "ACCORD_DATA_DIR": str(data),
        "ACCORD_METRICS_PORT": os.environ.get("BENCH_METRICS_PORT", "9600"),
        "ACCORD_API_PORT": "0",
    }
    settings = Settings.from_env({**os.environ, **env})
    results: dict[str, Any] = {
        "machine": {
            "cores": os.cpu_count(),
            "python": sys.version.split()[0],
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    }
    broker_pid = broker.start(settings, log=_say)
    topics.create(settings)
    try:
        run = uuid.uuid4().hex[:6]
        # Each side is timed after a warm-up of half its size on the same broker: a fresh JVM
        # spends much of its first minute compiling (BENCHMARKS.md, "What the profile shows").
        _say(
            f"1/5 raw relay chain: {messages} x 1 KB through {baseline.HOPS} kafka-python hops "
            f"(after a warm-up with {max(1, messages // 2)}) ..."
        )
        baseline.relay_chain(settings, max(1, messages // 2), f"{run}w")
        results["relay_chain"] = baseline.relay_chain(settings, messages, run)
        results["raw_consume"] = baseline.raw_consume(settings, f"bench.{run}.hop0")
        _say(f"    {results['relay_chain']} | raw consume {results['raw_consume']}")

        _say(
            f"2/5 the pipeline: {cases} complaints through every step to a closed case "
            f"(after a warm-up with {max(1, cases // 2)}) ..."
        )
        os.environ.update(env)
        pids = processes.up(settings)
        time.sleep(4)
        pipeline.run(settings, max(1, cases // 2), timeout_s=120 if args.smoke else 900)
        # Where the two cores go: every service, the broker and this load driver.
        pids = {**pids, **({"broker": broker_pid} if broker_pid else {}), "load driver": os.getpid()}
        before = {name: _usage(pid) for name, pid in pids.items()}
        jit_before = _compiling(broker_pid) if broker_pid else 0.0
        results["pipeline"] = pipeline.run(settings, cases, timeout_s=120 if args.smoke else 900)
        after = {name: _usage(pid) for name, pid in pids.items()}
        jit = _compiling(broker_pid) - jit_before if broker_pid else 0.0
        seconds = results["pipeline"]["seconds"]
        events = max(1, results["pipeline"]["events"])
        results["services"] = {
            name: {
                "cpu_percent": round(100 * (after[name][0] - before[name][0]) / seconds, 1),
                "cpu_us_per_event": round(1e6 * (after[name][0] - before[name][0]) / events, 0),
                "peak_rss_mib": round(after[name][1], 1),
            }
            for name in pids
        }
        if broker_pid:
            results["services"]["broker"]["jit_cpu_percent"] = round(100 * jit / seconds, 1)
        _say(f"    {results['pipeline']}")

        rate = results["pipeline"]["cases_per_second"]
        if not rate:
            raise SystemExit(f"the pipeline closed no case: see the services' logs in {data / 'logs'}")
        _say(f"3/5 submission-to-view latency at 50% and 100% of {rate} cases/s ...")
        results["latency_50"] = pipeline.latency(settings, rate * 0.5, args.latency_seconds)
        results["latency_100"] = pipeline.latency(settings, rate, args.latency_seconds)
        _say(f"    50%: {results['latency_50']}  100%: {results['latency_100']}")

        _say("4/5 projection rebuild and audit verify from offset 0, vs raw consume of the same topics ...")
        raw_rate = baseline.raw_consume_all(settings, [t.name for t in STEP_TOPICS.values()])[
            "records_per_second"
        ]
        lines: list[str] = []
        started = time.perf_counter()
        rebuild.rebuild(settings, log=lines.append)
        replayed = int(next(x for x in lines if x.startswith("replayed")).split()[1])
        rebuilt_seconds = time.perf_counter() - started
        results["rebuild"] = {
            "events": replayed,
            "seconds": round(rebuilt_seconds, 2),
            "events_per_second": round(replayed / rebuilt_seconds, 1),
            "raw_consume_per_second": round(raw_rate, 1),
            "identical": any("identical" in x for x in lines),
        }
        _say(f"    {results['rebuild']}")
        from services import audit

        verdict = audit.verify(settings)
        results["verify"] = {
            "events": verdict.events,
            "seconds": verdict.seconds,
            "events_per_second": round(verdict.events / verdict.seconds, 1),
            "raw_consume_per_second": round(raw_rate, 1),
            "problems": len(verdict.findings),
        }
        _say(f"    audit verify: {results['verify']}")
        # The closed cases of this run are what a long history is cloned from.
        templates = history.templates(settings) if args.history else []
    finally:
        processes.down(settings)
        broker.stop(settings, log=_say)

    _say(f"5/5 a step's memory after {' and '.join(memory_points)} cases ...")
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", *memory_points],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    results["memory"] = json.loads(done.stdout.strip().splitlines()[-1])
    _say(f"    {results['memory']}")

    counts = [int(n) for n in str(args.instances).split(",") if n.strip() and int(n) > 1]
    if counts:
        _say(f"and {' and '.join(map(str, counts))} instances of every step, each on a fresh broker ...")
        results["instances"] = [
            several(data, count, cases, args.latency_seconds, not args.smoke) for count in counts
        ]

    if args.history:
        _say(f"and a long history: {args.history:,} events cloned from {len(templates)} closed cases ...")
        results["history"] = long_history(settings, templates, args.history, data / "history")
        _say(f"    {results['history']}")

    (data / "results.json").write_text(json.dumps(results, indent=2))
    print_table(results)
    return 0


def several(data: Path, count: int, cases: int, latency_s: float, with_failover: bool) -> dict[str, Any]:
    """The pipeline (after a warm-up, as the main stage) and its latency at half its rate with
    `count` instances of every step, on a fresh broker of its own (bench/scale.py; the same
    ports as the main broker, stopped by now)."""
    from bench import scale

    base = {
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get("BENCH_BOOTSTRAP_SERVERS", "127.0.0.1:39092"),
        "ACCORD_DATA_DIR": str(data / "instances"),
        "ACCORD_METRICS_PORT": os.environ.get("BENCH_METRICS_PORT", "9600"),
        "ACCORD_API_PORT": "0",
        "ACCORD_CONSOLE_PORT": "0",
        "ACCORD_GATEWAY_PORT": "0",
    }
    return scale.one(count, cases, latency_s, base, with_failover=with_failover, warm_up=True)


def long_history(
    settings: Settings, templates: list[history.Template], events: int, data: Path
) -> dict[str, Any]:
    """On a broker of its own (fresh topics, no step stores): write the history, then time raw
    consume of the step topics, a rebuild and a verify of them, each in a process of its own."""
    settings = settings.model_copy(update={"data_dir": data})
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers, "ACCORD_DATA_DIR": str(data)}
    broker.start(settings, log=_say)
    try:
        topics.create(settings)
        out: dict[str, Any] = {"written": history.write(settings, templates, events)}
        out["raw_consume"] = baseline.raw_consume_all(settings, [t.name for t in STEP_TOPICS.values()])
        for stage in ("rebuild", "verify"):
            done = subprocess.run(
                [sys.executable, "-m", "bench.history", stage],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
                env=env,
            )
            out[stage] = json.loads(done.stdout.strip().splitlines()[-1])
        return out
    finally:
        broker.stop(settings, log=_say)


def print_table(r: dict[str, Any]) -> None:
    chain, pipe, rb, vf = r["relay_chain"], r["pipeline"], r["rebuild"], r["verify"]
    rows = [
        (
            "raw relay chain (6 hops, 1 KB)",
            f"{chain['messages_per_second']:,.0f} msg/s",
            f"hop p50 {chain['hop_latency_ms_p50']} ms, p99 {chain['hop_latency_ms_p99']} ms",
        ),
        ("raw consume from offset 0", f"{r['raw_consume']['records_per_second']:,.0f} rec/s", ""),
        (
            "pipeline, complaints to closed case",
            f"{pipe['cases_per_second']} cases/s",
            f"{pipe['events_per_second']:,.0f} events/s; "
            f"{100 * pipe['events_per_second'] / chain['messages_per_second']:.1f}% of the raw chain",
        ),
        (
            "submission -> case view, 50% load",
            f"p50 {r['latency_50']['p50_ms']} ms",
            f"p99 {r['latency_50']['p99_ms']} ms",
        ),
        (
            "submission -> case view, 100% load",
            f"p50 {r['latency_100']['p50_ms']} ms",
            f"p99 {r['latency_100']['p99_ms']} ms",
        ),
        (
            "projection rebuild",
            f"{r['rebuild']['events_per_second']:,.0f} events/s",
            f"{100 * rb['events_per_second'] / rb['raw_consume_per_second']:.1f}% of raw consume "
            f"({rb['raw_consume_per_second']:,.0f} rec/s); identical={rb['identical']}",
        ),
        (
            "audit verify (topics + stores)",
            f"{r['verify']['events_per_second']:,.0f} events/s",
            f"{100 * vf['events_per_second'] / vf['raw_consume_per_second']:.1f}% of raw consume; "
            f"{vf['problems']} problem(s)",
        ),
        (
            "intake RSS after "
            + " / ".join(k.rsplit("_", 1)[1] for k in r["memory"] if k.startswith("rss_mib_after"))
            + " cases",
            " / ".join(f"{v} MiB" for k, v in r["memory"].items() if k.startswith("rss_mib_after")),
            "",
        ),
    ]
    for run in r.get("instances", []):
        n, p, lat = run["instances"], run["pipeline"], run.get("latency_50") or {}
        share = 100 * p["events_per_second"] / chain["messages_per_second"]
        rows += [
            (
                f"pipeline, {n} instances of every step",
                f"{p['events_per_second']:,.0f} events/s",
                f"{share:.1f}% of the raw chain; {share / n:.1f}% per instance "
                f"({p['events_per_second'] / n:,.0f} events/s each)",
            ),
            (
                f"submission -> case view, 50% load, {n} instances",
                f"p50 {lat.get('p50_ms')} ms",
                f"p99 {lat.get('p99_ms')} ms",
            ),
        ]
        if run.get("failover"):
            f = run["failover"]
            rows.append(
                (
                    f"failover, {n} instances (SIGKILL)",
                    f"{f.get('to_first_event_s')} s",
                    f"to the successor's first event; all partitions owned again after "
                    f"{f.get('to_all_partitions_owned_s')} s",
                )
            )
    if "history" in r:
        h = r["history"]
        raw = h["raw_consume"]["records_per_second"]
        rows += [
            (
                f"long history: raw consume of {h['raw_consume']['records']:,} records",
                f"{raw:,.0f} rec/s",
                f"written at {h['written']['records_per_second']:,.0f} rec/s, "
                f"{h['written']['cases']:,} cases ({h['rebuild']['cases']:,} rebuilt)",
            ),
            *(
                (
                    f"long history: {what}",
                    f"{h[what]['events_per_second']:,.0f} events/s",
                    f"{100 * h[what]['events_per_second'] / raw:.1f}% of raw consume; "
                    f"{h[what]['events']:,} events in {h[what]['seconds']} s; "
                    f"peak RSS {h[what]['peak_rss_mib']} MiB",
                )
                for what in ("rebuild", "verify")
            ),
        ]
    rows += [
        (
            f"  {name} CPU / peak RSS",
            f"{u['cpu_percent']}%",
            f"{u['peak_rss_mib']} MiB; {u.get('cpu_us_per_event', '-')} µs CPU per event"
            + (f" ({u['jit_cpu_percent']}% of a core compiling Java)" if "jit_cpu_percent" in u else ""),
        )
        for name, u in r["services"].items()
    ]
    width = max(len(a) for a, _, _ in rows)
    print("\n" + "\n".join(f"{a:<{width}}  {b:>22}  {c}" for a, b, c in rows))


if __name__ == "__main__":
    sys.exit(main())
