"""`accord broker` and `accord topics`: the local broker, its credentials, and Accord's topics."""

from __future__ import annotations

import argparse
from typing import Any

from services.cli.output import say
from services.settings import Settings


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    from services import broker

    if args.nodes is not None:
        settings = settings.model_copy(update={"broker_nodes": args.nodes})
    if args.action == "start":
        broker.start(settings, log=say)
    elif args.action == "stop":
        broker.stop(settings, log=say)
    elif args.action == "fetch":
        say(f"broker jars in {broker.fetch_jars(settings)}")
    elif args.action == "acls":
        # What each service's principal may do (services/principals.py), one ACL a line: what a
        # production cluster grants with kafka-acls.sh or a Strimzi KafkaUser.
        from services import principals

        for acl in (
            broker.all_acls(settings)
            if args.all
            else [a for held in principals.service_acls(settings).values() for a in held]
        ):
            where = acl.resource_pattern
            say(
                f"{acl.principal:24} {where.resource_type.name.lower():16} {where.resource_name:32} "
                f"{where.pattern_type.name.lower():9} {acl.operation.name}"
            )
    elif args.action == "credentials":
        # Shell lines, so `eval "$(accord broker credentials)"` makes `accord audit` run as the auditor.
        auditor = broker.audit_principal(settings)
        say(f"# the local broker's read-only audit principal (SASL/PLAIN at {auditor.bootstrap_servers})")
        say(f"export ACCORD_AUDIT_KAFKA_USERNAME={auditor.username}")
        say(f"export ACCORD_AUDIT_KAFKA_PASSWORD={auditor.password}")
        say(f"export ACCORD_AUDIT_BOOTSTRAP_SERVERS={auditor.bootstrap_servers}")
        say(
            "# each service as its own principal (docs/security.md): run the services with "
            f"KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT KAFKA_BOOTSTRAP_SERVERS={auditor.bootstrap_servers} "
            f"ACCORD_KAFKA_CREDENTIALS={broker.services_credentials(settings)}"
        )
    else:
        states = broker.node_status(settings)
        for node, pid, answering in states:
            owner = f"pid {pid}" if pid else "not started by accord"
            state = "answering" if answering else "not answering"
            name = "broker" if len(states) == 1 else f"node {node.id}"
            say(f"{name} at {node.address}: {state} ({owner})")
        if any(pid for _, pid, _ in states):
            say(
                f"SASL users at {','.join(f'{n.host}:{n.sasl_port}' for n, _, _ in states)}; "
                "`accord broker credentials` prints the auditor's"
            )
        return 0 if all(answering for _, _, answering in states) else 3
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
    p.add_argument("action", choices=["start", "stop", "status", "fetch", "credentials", "acls"])
    p.add_argument("--all", action="store_true", help="acls: the auditor's too")
    p.add_argument(
        "--nodes",
        type=int,
        choices=range(1, 10),
        metavar="N",
        help="KRaft nodes on this machine (default: ACCORD_BROKER_NODES, or one per bootstrap address); "
        "3 gives replication factor 3 and min.insync.replicas 2",
    )
    p.set_defaults(run=cmd_broker)


def add_topics(sub: Any) -> None:
    p = sub.add_parser("topics", help="create or list Accord's topics")
    p.add_argument("action", choices=["create", "list"])
    p.add_argument("--partitions", type=int, default=None, help="default: ACCORD_PARTITIONS or 6")
    p.set_defaults(run=cmd_topics)
