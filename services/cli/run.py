"""`accord run`, `accord up`, `accord down`, `accord status`: the services, one in the foreground
or all of them (N instances of each step) supervised as processes."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from services.cli.output import say
from services.settings import Settings
from services.steps.registry import NAMES, SERVICE_PORTS


class _Once(logging.Filter):
    """Lets each distinct message through once per process."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    import threading

    from services.runtime import metrics
    from services.runtime.health import Liveness
    from services.steps.registry import load

    # This process is that service: it connects to Kafka as its own principal when configured
    # (docs/security.md). The insights app reads its settings from the environment.
    os.environ["ACCORD_SERVICE"] = args.step
    settings = settings.as_service(args.step)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.step} %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # the client's INFO lines drown ours
    # kafka-python warns of SASL_PLAINTEXT on every connection it makes: once is enough to know.
    for name in ("kafka.net.sasl.plain", "kafka.net.sasl.scram"):
        logging.getLogger(name).addFilter(_Once())
    if args.step in ("console", "gateway"):  # the web services (services/web/)
        from services.web import app

        web_port = settings.console_port if args.step == "console" else settings.gateway_port
        metrics.serve(args.step, settings.metrics_port, host=settings.bind_host)
        where = "console" if args.step == "console" else "v1/openapi.json"
        say(f"{args.step}: http://127.0.0.1:{web_port}/{where}")
        return app.run(settings, args.step)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.step == "insights":  # a faust worker: it handles SIGTERM and SIGINT itself
        from services.insights import app as insights

        return insights.main()
    liveness = Liveness(args.step, settings.liveness_s)
    liveness.watch()  # a loop that stops turning ends the process (status 70): never a silent hang
    port = metrics.serve(args.step, settings.metrics_port, liveness, settings.bind_host)
    from services import bootstrap

    if args.step == "projections":
        from projections import service

        say(
            "projections: folding every step topic into the case views"
            + (f"; metrics and /health on http://127.0.0.1:{port}" if port else "")
        )
        with _fatal_logged(args.step):
            projection = bootstrap.projection_service(settings)
            _freeze()
            service.run(settings, stop, projection, liveness)
        say("projections: stopped")
        return 0
    step = load(args.step)
    say(
        f"{args.step}: consuming {', '.join(step.inputs)}"
        + (f"; metrics and /health on http://127.0.0.1:{port}" if port else "")
    )
    with _fatal_logged(args.step):
        runner = bootstrap.step_runner(args.step, settings, liveness)
        _freeze()
        runner.run(stop)
    say(f"{args.step}: stopped")
    return 0


def _freeze() -> None:
    """What a service has loaded before its loop starts (modules, classes, pydantic's schemas)
    lives as long as the process: frozen, it is no longer walked by every full collection.
    Under the pipeline the longest collection pause of a service fell from 0.23-0.52 s to
    0.03 s, and the collectors' time of all services from 1.2-2.3 s to 0.6 s (BENCHMARKS.md)."""
    import gc

    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def _fatal_logged(service: str) -> Iterator[None]:
    """An error a service cannot ride out goes to its log with the traceback; the process then
    exits non-zero (see main) so that its supervisor starts it again."""
    try:
        yield
    except Exception:
        logging.getLogger("accord").exception("%s: stopped by an error it cannot recover from", service)
        raise


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    import threading

    from services import broker, processes, topics

    counts = instance_counts(args.instances)
    highest = max(counts.values()) - 1
    if settings.metrics_port and processes.metrics_base(settings, highest) + processes.STRIDE > 65536:
        say(f"accord: {highest + 1} instances do not fit above ACCORD_METRICS_PORT={settings.metrics_port}")
        return 2
    broker.start(settings, log=say)
    topics.create(settings)

    def report(name: str, pid: int | None, action: str) -> None:
        service, k = processes.parse_instance(name)
        where = f"(pid {pid}), log {processes.log_file(settings, service, k)}" if pid else ""
        say(f"  {name:13} {action} {where}".rstrip())

    if not args.watch:  # one round, every instance started now (no back-off)
        for name, (pid, action) in processes.supervise(settings, processes.SERVICES, counts, None).items():
            report(name, pid, action)
        return 0
    processes.watch(settings, processes.SERVICES, counts, args.watch, report, threading.Event())
    return 0


def instance_counts(values: list[tuple[str | None, int]] | None) -> dict[str, int]:
    """How many instances of each step: `--instances N` for every step, `--instances STEP=N`
    for one (it wins over N whatever the order); one by default."""
    every = next((n for step, n in reversed(values or []) if step is None), 1)
    counts = dict.fromkeys(NAMES, every)
    counts.update({step: n for step, n in values or [] if step is not None})
    return counts


def _instances(value: str) -> tuple[str | None, int]:
    step, _, number = value.rpartition("=")
    if step and step not in NAMES:
        raise argparse.ArgumentTypeError(f"'{step}' is not a step (the steps: {', '.join(NAMES)})")
    if not number.isdigit() or not 1 <= int(number) <= 99:
        raise argparse.ArgumentTypeError(f"'{value}': give N or STEP=N, N from 1 to 99")
    return (step or None), int(number)


def cmd_down(args: argparse.Namespace, settings: Settings) -> int:
    from services import broker, processes

    for name in processes.down(settings):
        say(f"  {name:13} stopped")
    if not args.keep_broker:
        broker.stop(settings, log=say)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from services import processes

    rows = processes.status(settings)
    live = [row for row in rows if row["pid"]]
    if args.json:
        document = {"data_dir": str(settings.data_dir), "running": len(live), "instances": rows}
        say(json.dumps(document, indent=1))
        return 0
    if not live:
        say(f"nothing runs from {settings.data_dir}: `accord up` starts it (broker: `accord broker status`)")
        return 0

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            return ",".join(map(str, value)) or "none"
        return str(value)

    say(f"{'service':12} {'instance':>8} {'pid':>8} {'restarts':>8}  {'partitions':16} {'lag':>6}  progress")
    for row in rows:
        note = ""
        if row["restart_due_at"]:
            wait = max(0.0, row["restart_due_at"] - time.time())
            note = f"  restarts in {wait:.0f}s ({row['last_failure']})"
        say(
            f"{row['service']:12} {row['instance']:>8} {row['pid'] or 'stopped':>8} {row['restarts']:>8}  "
            f"{cell(row['partitions']):16} {cell(row['lag']):>6}  {cell(row['progressing'])}{note}"
        )
    return 0


def add_run(sub: Any) -> None:
    p = sub.add_parser("run", help="run one step's service in the foreground")
    p.add_argument(
        "step",
        choices=[*NAMES, *SERVICE_PORTS],
    )
    p.set_defaults(run=cmd_run)


def add_up(sub: Any) -> None:
    p = sub.add_parser("up", help="start the broker, create the topics, run every step")
    p.add_argument(
        "--instances",
        type=_instances,
        action="append",
        metavar="N|STEP=N",
        help="how many instances of each step (N), or of one step (STEP=N, repeatable); default 1. "
        "Instances beyond it, from an earlier `accord up`, are stopped; the other services run once",
    )
    p.add_argument(
        "--watch",
        type=float,
        metavar="SECONDS",
        help="stay in the foreground and repeat every SECONDS: start instances that exited, "
        "restart ones whose /health says they stopped making progress (back-off per instance: "
        "1 s doubling to 60 s)",
    )
    p.set_defaults(run=cmd_up)


def add_status(sub: Any) -> None:
    p = sub.add_parser("status", help="every service instance: pid, restarts, partitions, lag, progress")
    p.add_argument("--json", action="store_true", help="as JSON, for machines")
    p.set_defaults(run=cmd_status)


def add_down(sub: Any) -> None:
    p = sub.add_parser("down", help="stop every step and the broker")
    p.add_argument("--keep-broker", action="store_true", help="stop the steps only")
    p.set_defaults(run=cmd_down)
