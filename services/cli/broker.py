"""`accord broker` and `accord topics`: the local broker, its credentials, and Accord's topics."""

from __future__ import annotations

import argparse
from typing import Any

from services.cli.output import say
from services.settings import Settings


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    from services import broker

    if args.action == "start":
        broker.start(settings, log=say)
    elif args.action == "stop":
        broker.stop(settings, log=say)
    elif args.action == "fetch":
        say(f"broker jars in {broker.fetch_jars(settings)}")
    elif args.action == "credentials":
        # Shell lines, so `eval "$(accord broker credentials)"` makes `accord audit` run as the auditor.
        auditor = broker.audit_principal(settings)
        say(f"# the local broker's read-only audit principal (SASL/PLAIN at {auditor.bootstrap_servers})")
        say(f"export ACCORD_AUDIT_KAFKA_USERNAME={auditor.username}")
        say(f"export ACCORD_AUDIT_KAFKA_PASSWORD={auditor.password}")
        say(f"export ACCORD_AUDIT_BOOTSTRAP_SERVERS={auditor.bootstrap_servers}")
    else:
        pid, answering = broker.status(settings)
        owner = f"pid {pid}" if pid else "not started by accord"
        state = "answering" if answering else "not answering"
        say(f"broker at {settings.bootstrap_servers}: {state} ({owner})")
        if pid:
            say(
                f"SASL users at {settings.broker_host}:{settings.broker_sasl_listener_port}; "
                "`accord broker credentials` prints the auditor's"
            )
        return 0 if answering else 3
    return 0


def cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    from services import topics

    if args.action == "create":
        created = topics.create(settings, partitions=args.partitions, log=say)
        say(f"{len(created)} topic(s) created")
    else:
        for name, partitions in sorted(topics.describe(settings).items()):
            say(f"{name:28} {partitions} partitions")
    return 0


def add_broker(sub: Any) -> None:
    p = sub.add_parser("broker", help="the local Kafka broker")
    p.add_argument("action", choices=["start", "stop", "status", "fetch", "credentials"])
    p.set_defaults(run=cmd_broker)


def add_topics(sub: Any) -> None:
    p = sub.add_parser("topics", help="create or list Accord's topics")
    p.add_argument("action", choices=["create", "list"])
    p.add_argument("--partitions", type=int, default=None, help="default: ACCORD_PARTITIONS or 6")
    p.set_defaults(run=cmd_topics)
