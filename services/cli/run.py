"""`accord run`, `accord up`, `accord down`: the services, one in the foreground or all of them
supervised as processes."""

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
            service.run(settings, stop, bootstrap.projection_service(settings), liveness)
        say("projections: stopped")
        return 0
    step = load(args.step)
    say(
        f"{args.step}: consuming {', '.join(step.inputs)}"
        + (f"; metrics and /health on http://127.0.0.1:{port}" if port else "")
    )
    with _fatal_logged(args.step):
        bootstrap.step_runner(args.step, settings, liveness).run(stop)
    say(f"{args.step}: stopped")
    return 0


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
    from services import broker, processes, topics

    broker.start(settings, log=say)
    topics.create(settings)
    while True:
        for step, (pid, action) in processes.supervise(settings, processes.SERVICES).items():
            if action != "running" or not args.watch:
                say(f"  {step:11} {action} (pid {pid}), log {settings.data_dir / 'logs' / (step + '.log')}")
        if not args.watch:
            return 0
        time.sleep(args.watch)


def cmd_down(args: argparse.Namespace, settings: Settings) -> int:
    from services import broker, processes

    for step in processes.down(settings):
        say(f"  {step:11} stopped")
    if not args.keep_broker:
        broker.stop(settings, log=say)
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
        "--watch",
        type=float,
        metavar="SECONDS",
        help="stay in the foreground and repeat every SECONDS: start services that exited, "
        "restart ones whose /health says they stopped making progress",
    )
    p.set_defaults(run=cmd_up)


def add_down(sub: Any) -> None:
    p = sub.add_parser("down", help="stop every step and the broker")
    p.add_argument("--keep-broker", action="store_true", help="stop the steps only")
    p.set_defaults(run=cmd_down)
