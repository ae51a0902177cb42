"""The `accord` command: broker, topics, the step services, complaints and commands, catalogue.
Every subcommand reads the one settings object; errors print a reason and exit non-zero."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.settings import Settings


def say(message: str) -> None:
    try:
        print(message, flush=True)
    except BrokenPipeError:  # `accord report | head`: the reader has gone, which is fine
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115


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


def cmd_catalogue(args: argparse.Namespace, settings: Settings) -> int:
    from events import catalogue

    if args.action == "write":
        for path in catalogue.write():
            say(f"wrote {path.relative_to(catalogue.ROOT)}")
        return 0
    stale = catalogue.stale()
    for path in stale:
        say(f"out of date: {path.relative_to(catalogue.ROOT)}")
    if stale:
        say("run `accord catalogue write` and commit the result")
    return 1 if stale else 0


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


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    import logging
    import signal
    import threading

    from services.runtime import metrics
    from services.runtime.health import Liveness
    from services.runtime.loop import Runner
    from services.steps import load

    # This process is that service: it connects to Kafka as its own principal when configured
    # (docs/security.md). The insights app reads its settings from the environment.
    os.environ["ACCORD_SERVICE"] = args.step
    settings = settings.as_service(args.step)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.step} %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # the client's INFO lines drown ours
    if args.step in ("console", "gateway"):  # the web services (services/web/)
        from services.web import app

        web_port = settings.console_port if args.step == "console" else settings.gateway_port
        metrics.serve(args.step, settings.metrics_port)
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
    port = metrics.serve(args.step, settings.metrics_port, liveness)
    if args.step == "projections":
        from projections import service

        say(
            "projections: folding every step topic into the case views"
            + (f"; metrics and /health on http://127.0.0.1:{port}" if port else "")
        )
        with _fatal_logged(args.step):
            service.run(settings, stop, liveness)
        say("projections: stopped")
        return 0
    from services.privacy import KeyStore

    step = load(args.step)
    say(
        f"{args.step}: consuming {', '.join(step.INPUTS)}"
        + (f"; metrics and /health on http://127.0.0.1:{port}" if port else "")
    )
    with _fatal_logged(args.step):
        Runner(step, settings, liveness=liveness, sealer=KeyStore(settings)).run(stop)
    say(f"{args.step}: stopped")
    return 0


@contextlib.contextmanager
def _fatal_logged(service: str) -> Iterator[None]:
    """An error a service cannot ride out goes to its log with the traceback; the process then
    exits non-zero (see main) so that its supervisor starts it again."""
    import logging

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


# -- the console, the customer's page and the gateway (services/web/) -----------------------
def cmd_staff(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from services.web.accounts import Accounts

    accounts = Accounts(settings.data_dir)
    try:
        if args.action == "list":
            for staff in accounts.all_staff():
                say(f"{staff.staff_id:12} {staff.role:10} team {staff.team:10} {staff.language}")
            return 0
        if not args.id or not args.role or not args.team:
            say("staff add needs ID, --role and --team")
            return 2
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {args.id}: ")
        try:
            staff = accounts.add_staff(args.id, args.role, args.team, password, args.lang)
        except ValueError as exc:
            say(f"not added: {exc}")
            return 2
        say(f"staff {staff.staff_id}: {staff.role}, team {staff.team}, {staff.language}")
        return 0
    finally:
        accounts.close()


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    from services.web.accounts import Accounts

    if args.action == "openapi":
        from services.web.app import openapi_document

        text = json.dumps(openapi_document(settings), indent=2, ensure_ascii=False) + "\n"
        if args.out:
            Path(args.out).write_text(text)
            say(f"wrote {args.out}")
        else:
            sys.stdout.write(text)
        return 0
    if not args.channel:
        say(f"gateway {args.action} needs a CHANNEL")
        return 2
    accounts = Accounts(settings.data_dir)
    try:
        if args.action == "key":
            say(accounts.add_api_key(args.channel))  # shown once: only its digest is kept
        else:
            say(f"revoked {accounts.revoke_api_keys(args.channel)} key(s) of {args.channel}")
        return 0
    finally:
        accounts.close()


def cmd_link(args: argparse.Namespace, settings: Settings) -> int:
    from services.web.tokens import Links, signing_key

    links = Links(signing_key(settings.data_dir), settings.customer_link_days)
    token = links.issue(args.case, days=args.days)
    say(f"{settings.public_url.rstrip('/')}/c/{token}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from services import demo

    return demo.run(settings, say)


def cmd_case(args: argparse.Namespace, settings: Settings) -> int:
    from projections.store import ViewStore

    store = ViewStore.open(settings.data_dir, settings.database_url)
    try:
        view = store.get(args.case)
    finally:
        store.close()
    if view is None:
        say(f"no case {args.case} in the case views (is `accord run projections` running?)")
        return 1
    if args.json:
        say(json.dumps({k: v for k, v in view.items() if k != "events"}, indent=2, ensure_ascii=False))
        return 0
    d = view["deadline"]
    say(f"case {view['case_id']}  {view['status']}  (last step: {view['step']})")
    say(
        f"  channel {view['channel']}, category {view['category']}, complexity {view['complexity']}, "
        f"priority {view['priority']}"
    )
    say(f"  handler {view['handler']} ({view['team']}), opened {view['opened_at']}")
    say(
        f"  decision due {d['due_at']} [{d['policy']}]: {d['status']}"
        + (f", extended ({d['extended']})" if d["extended"] else "")
    )
    if view.get("awaiting_facts"):
        say("  planning is waiting for:")
        for item in view["awaiting_facts"]:
            say(f"    {item['fact']}: {item['why']}")
    if view["plan"]:
        plan = view["plan"]
        say(f"  plan {plan['plan_id']}: {plan['kind']}, round {plan['round']}, {plan['status']}")
    if view.get("risk"):
        r = view["risk"]
        say(f"  dispute risk {r['score']:.2f} (threshold {r['threshold']:.2f}, model {r['model_version']})")
    if view["csat"] is not None:
        say(f"  satisfaction: CSAT {view['csat']}, NPS {view['nps']}")
    if view["closed_at"]:
        say(f"  closed {view['closed_at']}: {view['outcome']}")
    say("  timeline:")
    for item in view["timeline"]:
        say(f"    {item['at']}  {item['step']:10} {item['type']:22} {item['actor']:22} {item['summary']}")
    return 0


def cmd_cases(args: argparse.Namespace, settings: Settings) -> int:
    from projections import api
    from projections.store import ViewStore

    store = ViewStore.open(settings.data_dir, settings.database_url)
    try:
        found = api.cases(
            store, args.status, args.channel, args.category, args.overdue, args.limit, args.sort
        )
    finally:
        store.close()
    rows = [api.summary(v) for v in found]
    if args.json:
        say(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    say(f"{'case':18} {'status':16} {'channel':8} {'category':26} {'deadline':10} {'due':21} {'risk':6} plan")
    for r in rows:
        risk = f"{r['risk']:.2f}!" if r["risk"] is not None else "-"
        say(
            f"{r['case_id']:18} {r['status']:16} {r['channel'] or '-':8} {r['category'] or '-':26} "
            f"{r['deadline'] or '-':10} {(r['due_at'] or '-')[:19]:21} {risk:6} {r['plan'] or '-'}"
        )
    say(f"{len(rows)} case(s)")
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from projections import report
    from projections.store import ViewStore

    by = args.by.split(",")
    unknown = [d for d in by if d not in report.DIMENSIONS]
    if unknown:
        say(f"unknown dimension(s) {unknown}; choose from {', '.join(report.DIMENSIONS)}")
        return 2
    store = ViewStore.open(settings.data_dir, settings.database_url)
    try:
        figures = report.compute(store.all(), by)
    finally:
        store.close()
    say(report.table(figures))
    for path, render in (
        (args.csv, report.to_csv),
        (args.json, lambda f: json.dumps(f, indent=2)),
        (args.html, report.to_html),
    ):
        if path:
            Path(path).write_text(render(figures), encoding="utf-8")
            say(f"wrote {path}")
    return 0


def cmd_insights(args: argparse.Namespace, settings: Settings) -> int:
    from services.insights import train

    model = train.train(Path(args.cfpb), seed=args.seed)
    for line in train.summary(model):
        say(line)
    if args.out:
        train.write(model, Path(args.out))
        say(f"wrote {args.out}")
    return 0


def cmd_projections(args: argparse.Namespace, settings: Settings) -> int:
    from projections import rebuild

    ok = rebuild.rebuild(settings, replace=args.replace, log=say)
    return 0 if ok else 1


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from services import simulate

    if settings.clock != "message":
        say(
            "note: the services should run with ACCORD_CLOCK=message so decisions are dated in each "
            "complaint's own history (`ACCORD_CLOCK=message accord up`)"
        )
    path = Path(args.cfpb)
    if not path.exists():
        say(f"no such file: {path}")
        return 2
    return 0 if simulate.simulate(settings, path, args.limit, args.timeout, log=say) else 1


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from services import audit

    if args.action == "timeline":
        rows = audit.timeline(settings, args.target)
        if not rows:
            say(f"no events for case {args.target}")
            return 1
        if args.format == "json":
            say(json.dumps(rows, indent=2, ensure_ascii=False))
        elif args.format == "csv":
            sys.stdout.write(audit.to_csv(rows))
        else:
            for r in rows:
                say(
                    f"{r['occurred_at'][:23]:23} {r['step']:10} #{r['sequence']:<3} {r['type']:22} "
                    f"{r['actor']:22} {r['position']:28} caused by {r['caused_by'] or '-'}"
                )
        return 0
    if args.action == "as-of":
        moment = datetime.fromisoformat(args.target.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            say("give the time with its zone, e.g. 2026-03-02T09:00:00Z")
            return 2
        result = audit.as_of(settings, moment, args.case)
        if result is None:
            say(f"case {args.case} had no events by {args.target}")
            return 1
        if args.case:
            result = {k: v for k, v in result.items() if k != "events"}
        say(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    if args.action == "replay":
        from projections import rebuild

        return 0 if rebuild.rebuild(settings, log=say) else 1
    if args.action == "export":
        if not (args.start and args.end and args.out):
            say("give --from, --to and --out")
            return 2
        start = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
        end = datetime.fromisoformat(args.end.replace("Z", "+00:00"))
        manifest = audit.export(settings, start, end, args.out)
        say(f"wrote {args.out}: {manifest['events']} events in {manifest['chains']} chains")
        return 0
    if args.bundle:
        verdict = audit.verify_bundle(args.bundle)
        for finding in verdict.findings[:200]:
            say(f"  {finding}")
        say(
            f"bundle {args.bundle}: {verdict.events} events in {verdict.chains} chains: "
            + ("no problem found" if verdict.ok else f"{len(verdict.findings)} PROBLEM(S)")
        )
        return 0 if verdict.ok else 1
    verdict = audit.verify(settings, check_stores=not args.topics_only)
    for finding in verdict.findings[:200]:
        say(f"  {finding}")
    rate = verdict.events / verdict.seconds if verdict.seconds else 0
    say(
        f"verified {verdict.events} events in {verdict.chains} chains"
        + (f" against {verdict.stored} recorded in the steps' stores" if not args.topics_only else "")
        + f" in {verdict.seconds}s ({rate:,.0f} events/s): "
        + ("no problem found" if verdict.ok else f"{len(verdict.findings)} PROBLEM(S)")
    )
    return 0 if verdict.ok else 1


def cmd_privacy(args: argparse.Namespace, settings: Settings) -> int:
    from services import privacy

    keys = privacy.KeyStore(settings)
    if args.action == "forget":
        done = keys.forget(args.customer, reason=args.reason)
        if not done.first:
            say(f"customer {done.customer_id} was forgotten already on {done.at.isoformat()}: {done.reason}")
            return 0
        say(
            f"forgot customer {done.customer_id} at {done.at.isoformat()}: {done.keys} key(s) destroyed. "
            "Their cases keep their full history (hashes, order, facts); their personal data "
            "can no longer be read anywhere."
        )
        return 0
    rows = privacy.held(settings, args.customer)
    forgotten = keys.forgotten(args.customer)
    if args.json:
        say(json.dumps({"customer_id": args.customer, "forgotten_at": forgotten, "cases": rows}, default=str))
        return 0
    if forgotten:
        say(f"customer {args.customer}: forgotten on {forgotten.isoformat()}")
    if not rows:
        say(f"customer {args.customer}: no personal data registered with any case")
    for row in rows:
        held = row["personal"]
        shown = ", ".join(f"{k}={v}" for k, v in held.items()) if held else "erased (key destroyed)"
        note = "  [IN THE CLEAR: registered before sealing]" if row.get("plaintext") else ""
        say(f"  {row['case_id']}  {row['registered_at'].isoformat()}  {shown}{note}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="accord", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
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
    p = sub.add_parser("topics", help="create or list Accord's topics")
    p.add_argument("action", choices=["create", "list"])
    p.add_argument("--partitions", type=int, default=None, help="default: ACCORD_PARTITIONS or 6")
    p.set_defaults(run=cmd_topics)
    p = sub.add_parser("catalogue", help="the generated event catalogue")
    p.add_argument("action", choices=["write", "check"])
    p.set_defaults(run=cmd_catalogue)
    p = sub.add_parser("submit", help="publish a complaint as a channel would")
    p.add_argument("file", nargs="?", help="JSON submission file, or - for stdin; default: an example")
    p.add_argument("--channel", default="app", choices=["hotline", "branch", "app"])
    p.set_defaults(run=cmd_submit)
    p = sub.add_parser("run", help="run one step's service in the foreground")
    p.add_argument(
        "step",
        choices=["intake", "contact", "planning", "execution", "evaluation", "sla", "projections"]
        + ["insights", "console", "gateway"],
    )
    p.set_defaults(run=cmd_run)
    # -- the console, the customer's page and the gateway --
    p = sub.add_parser("staff", help="console accounts: add (or reset) a staff member, list them")
    p.add_argument("action", choices=["add", "list"])
    p.add_argument("id", nargs="?")
    p.add_argument("--role", choices=["handler", "supervisor", "auditor"])
    p.add_argument("--team", help="the team whose cases they work (supervisors: * for every team)")
    p.add_argument("--lang", default="en", choices=["en", "zh-CN"])
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(run=cmd_staff)
    p = sub.add_parser("gateway", help="channels' API keys, and the gateway's OpenAPI document")
    p.add_argument("action", choices=["key", "revoke", "openapi"])
    p.add_argument("channel", nargs="?", choices=["hotline", "branch", "app"])
    p.add_argument("--out", help="openapi: write to this file")
    p.set_defaults(run=cmd_gateway)
    p = sub.add_parser("link", help="a customer's link to their case page")
    p.add_argument("case")
    p.add_argument("--days", type=float, default=None, help="valid this long (ACCORD_CUSTOMER_LINK_DAYS)")
    p.set_defaults(run=cmd_link)
    p = sub.add_parser("up", help="start the broker, create the topics, run every step")
    p.add_argument(
        "--watch",
        type=float,
        metavar="SECONDS",
        help="stay in the foreground and repeat every SECONDS: start services that exited, "
        "restart ones whose /health says they stopped making progress",
    )
    p.set_defaults(run=cmd_up)
    p = sub.add_parser("down", help="stop every step and the broker")
    p.add_argument("--keep-broker", action="store_true", help="stop the steps only")
    p.set_defaults(run=cmd_down)
    p = sub.add_parser("act", help="send a staff or customer command for a case")
    p.add_argument("case")
    p.add_argument("command", help="e.g. AcceptPlan, RecordContactAttempt (see docs/events.md)")
    p.add_argument("fields", nargs="*", help="field=value; JSON values for nested fields")
    p.add_argument("--actor", required=True, help="kind:id, e.g. staff:H-001 or customer:CUST-1")
    p.set_defaults(run=cmd_act)
    p = sub.add_parser("case", help="one case as it stands now (from the case views)")
    p.add_argument("action", choices=["show"])
    p.add_argument("case")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_case)
    p = sub.add_parser("cases", help="list cases from the case views")
    p.add_argument("--status")
    p.add_argument("--channel", choices=["hotline", "branch", "app"])
    p.add_argument("--category")
    p.add_argument("--overdue", action="store_true", help="open cases past their decision deadline")
    p.add_argument("--sort", choices=["risk"], help="risk: cases flagged by RiskScored first, highest first")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_cases)
    p = sub.add_parser("report", help="satisfaction and performance figures")
    p.add_argument(
        "--by",
        default="overall,channel,category",
        help="comma-separated: overall, channel, category, product, branch, handler (with team medians and "
        "coaching), plan_type, plan (type/category: plan effectiveness), day, week",
    )
    p.add_argument("--csv", help="also write CSV to this file")
    p.add_argument("--json", help="also write JSON to this file")
    p.add_argument("--html", help="also write a self-contained HTML report with charts")
    p.set_defaults(run=cmd_report)
    p = sub.add_parser("insights", help="fit the dispute-risk model on the CFPB sample")
    p.add_argument("action", choices=["train"])
    p.add_argument("--cfpb", required=True, help="path to cfpb_sample.csv")
    p.add_argument("--seed", type=int, default=20130722, help="seeds the bootstrap of the metrics")
    p.add_argument("--out", help="write the rules table here (services/rules/risk_model.json to deploy it)")
    p.set_defaults(run=cmd_insights)
    p = sub.add_parser("projections", help="rebuild the case views from offset 0")
    p.add_argument("action", choices=["rebuild"])
    p.add_argument("--replace", action="store_true", help="make the rebuilt views the live ones")
    p.set_defaults(run=cmd_projections)
    p = sub.add_parser("simulate", help="replay real CFPB complaints and check the report against the CSV")
    p.add_argument("--cfpb", required=True, help="path to cfpb_sample.csv")
    p.add_argument("--limit", type=int, default=None, help="only the first N rows")
    p.add_argument("--timeout", type=float, default=3600)
    p.set_defaults(run=cmd_simulate)
    p = sub.add_parser("audit", help="timeline, as-of, replay and verify, from the history alone")
    p.add_argument("action", choices=["timeline", "as-of", "replay", "verify", "export"])
    p.add_argument("target", nargs="?", help="timeline: a case id; as-of: a time with its zone")
    p.add_argument("case", nargs="?", help="as-of: one case (default: the case metrics)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--topics-only", action="store_true", help="verify: skip the steps' stores")
    p.add_argument("--bundle", help="verify: check an exported bundle offline instead")
    p.add_argument("--from", dest="start", help="export: from this time (with its zone)")
    p.add_argument("--to", dest="end", help="export: up to (not including) this time")
    p.add_argument("--out", help="export: the bundle file to write (.zip)")
    p.set_defaults(run=cmd_audit)
    p = sub.add_parser("privacy", help="personal data: show what is held of a customer, or forget them")
    p.add_argument("action", choices=["show", "forget"])
    p.add_argument("customer", help="the customer id")
    p.add_argument("--reason", default="erasure request", help="forget: why (kept in the erasure register)")
    p.add_argument("--json", action="store_true", help="show: as JSON")
    p.set_defaults(run=cmd_privacy)
    p = sub.add_parser("reference", help="load a reference data set (market and product data) for planning")
    p.add_argument("action", choices=["load"])
    p.add_argument("file", help="JSON: dataset_id, version, source, as_of, market, products")
    p.add_argument(
        "--actor", default="staff:operator", help="kind:id of the operator (default: staff:operator)"
    )
    p.set_defaults(run=cmd_reference)
    p = sub.add_parser("demo", help="drive complaints from all three channels to closed cases")
    p.set_defaults(run=cmd_demo)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from pydantic import ValidationError

    from services.broker import BrokerError

    try:
        settings = Settings.from_env()
    except ValidationError as exc:
        say(f"accord: invalid settings: {exc.errors(include_input=False)}")
        return 2
    try:
        return int(args.run(args, settings) or 0)
    except BrokerError as exc:
        say(f"accord: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence prints a reason
        from kafka.errors import KafkaError

        if isinstance(exc, KafkaError):
            say(f"accord: Kafka error: {exc!r} (is the broker running? `accord broker status`)")
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
