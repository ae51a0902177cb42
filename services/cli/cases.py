"""`accord submit`, `accord act`, `accord reference load`: what channels, staff and operators send,
through the one publishing path."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.cli.output import say
from services.settings import Settings


def example_submission(channel: str = "app", submission_id: str | None = None) -> dict:
    return {
        "submission_id": submission_id or f"{channel}-{uuid.uuid4().hex[:12]}",
        "channel": channel,
        "submitted_at": datetime.now(UTC).isoformat(),
        "customer_id": "CUST-0001",
        "customer": {"name": "张伟", "phone": "+86 138 0000 0000"},
        "product": "Credit card",
        "subject": "Instalment plan after missed repayments",
        "description": "因市场波动，公司资金周转困难，未能按时还款，希望重新安排还款计划。",
        "amount_disputed": {"amount": "52000.00", "currency": "CNY"},
        "preferred_contact": {"method": "phone"},
    }


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    from events.codec import DecodeError, decode
    from events.submission import ComplaintSubmission

    raw = (
        Path(args.file).read_bytes()
        if args.file and args.file != "-"
        else (
            sys.stdin.buffer.read()
            if args.file == "-"
            else json.dumps(example_submission(args.channel)).encode()
        )
    )
    try:
        submission = decode(ComplaintSubmission, raw)
    except DecodeError as exc:
        say(f"not submitted: {exc.reason}")
        return 2
    from services.privacy import KeyStore

    meta = _send(settings, submission, KeyStore(settings))
    say(
        f"submitted {submission.submission_id} via {submission.channel} "
        f"-> {meta.topic}[{meta.partition}]@{meta.offset}"
    )
    # the customer's acknowledgement carries their link (as the gateway's answer does)
    from services.steps.intake import case_id_for
    from services.web.tokens import Links, signing_key

    case_id = case_id_for(submission)
    token = Links(signing_key(settings.data_dir), settings.customer_link_days).issue(case_id)
    say(f"case {case_id}; the customer's page: {settings.public_url.rstrip('/')}/c/{token}")
    return 0


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def cmd_act(args: argparse.Namespace, settings: Settings) -> int:
    from events.codec import DecodeError, decode
    from events.commands import CommandEnvelope

    kind, _, actor_id = args.actor.partition(":")
    fields = dict(pair.split("=", 1) for pair in args.fields)
    body = {
        "command_id": str(uuid.uuid4()),
        "case_id": args.case,
        "issued_at": datetime.now(UTC).isoformat(),
        "actor": {"kind": kind, "id": actor_id},
        "command": {"type": args.command, **{k: _value(v) for k, v in fields.items()}},
    }
    try:
        command = decode(CommandEnvelope, json.dumps(body).encode())
    except DecodeError as exc:
        say(f"not sent: {exc.reason}")
        return 2
    _send(settings, command)
    say(f"sent {args.command} for {args.case} as {args.actor} (command {command.command_id})")
    return 0


def _send(settings: Settings, message: Any, keys: Any = None) -> Any:
    """Publish one submission or command through the one publishing path and wait for it."""
    from services import clients, publish

    producer = clients.producer(settings)
    try:
        return publish.send(producer, message, keys).get(timeout=30)
    finally:
        producer.close()


def cmd_reference(args: argparse.Namespace, settings: Settings) -> int:
    from events.base import Actor
    from events.codec import DecodeError
    from events.facts import REFERENCE_KEY
    from services import publish

    kind, _, actor_id = args.actor.partition(":")
    try:
        command = publish.reference(Path(args.file), Actor(kind=kind, id=actor_id))
    except (OSError, ValueError, DecodeError) as exc:
        say(f"not loaded: {getattr(exc, 'reason', exc)}")
        return 2
    _send(settings, command)
    data = command.command
    say(
        f"sent reference data {data.dataset_id} version {data.version} ({data.source}, as of "  # type: ignore[union-attr]
        f"{data.as_of}): {len(data.market)} market points, {len(data.products)} products"  # type: ignore[union-attr]
    )
    say(f"planning answers (ReferenceDataLoaded or CommandRejected): accord audit timeline {REFERENCE_KEY}")
    return 0


def add_submit(sub: Any) -> None:
    p = sub.add_parser("submit", help="publish a complaint as a channel would")
    p.add_argument("file", nargs="?", help="JSON submission file, or - for stdin; default: an example")
    p.add_argument("--channel", default="app", choices=["hotline", "branch", "app"])
    p.set_defaults(run=cmd_submit)


def add_act(sub: Any) -> None:
    p = sub.add_parser("act", help="send a staff or customer command for a case")
    p.add_argument("case")
    p.add_argument("command", help="e.g. AcceptPlan, RecordContactAttempt (see docs/events.md)")
    p.add_argument("fields", nargs="*", help="field=value; JSON values for nested fields")
    p.add_argument("--actor", required=True, help="kind:id, e.g. staff:H-001 or customer:CUST-1")
    p.set_defaults(run=cmd_act)


def add_reference(sub: Any) -> None:
    p = sub.add_parser("reference", help="load a reference data set (market and product data) for planning")
    p.add_argument("action", choices=["load"])
    p.add_argument("file", help="JSON: dataset_id, version, source, as_of, market, products")
    p.add_argument(
        "--actor", default="staff:operator", help="kind:id of the operator (default: staff:operator)"
    )
    p.set_defaults(run=cmd_reference)
