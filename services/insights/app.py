"""The insights service (`accord run insights`), a faust-streaming app: reads the six step topics,
keeps what it knows of each case and each day's complaints per (branch, product, category) in
tables recovered from their changelogs, and emits SurgeDetected and RiskScored onto
`negotiation.insights`. At-least-once, one agent instance each (concurrency 1); every finding
has an id derived from its window or case, is recorded in its table before it is sent, and is
re-sent with the same bytes until marked sent, so a replay rewrites the same record."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import faust

from events.codec import DecodeError, decode, encode, headers_for
from events.envelope import Envelope
from events.topics import INSIGHTS, STEP_TOPICS
from services.insights import durable, facts
from services.insights.surge import SurgeRule
from services.rules import risk
from services.runtime import metrics
from services.settings import Settings

log = logging.getLogger("accord.insights")
settings = Settings.from_env()
RULE = SurgeRule(settings.surge_factor, settings.surge_min_count, settings.surge_baseline_days)
MODEL = risk.model()
# Tests point the service at their own topics; in operation these are the declared ones.
INPUTS = [t for t in os.environ.get("ACCORD_INSIGHTS_INPUTS", "").split(",") if t] or [
    t.name for t in STEP_TOPICS.values()
]
OUTPUT = os.environ.get("ACCORD_INSIGHTS_OUTPUT") or INSIGHTS.name


def _credentials(settings: Settings) -> faust.SASLCredentials | None:
    """The services' SASL principal (docs/security.md), as faust takes it."""
    if not settings.security_protocol.startswith("SASL"):
        return None
    context = None
    if settings.security_protocol == "SASL_SSL":
        import ssl

        context = ssl.create_default_context(cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None)
    username, secret = settings.kafka_principal()  # accord-insights when configured
    password = secret.get_secret_value() if secret else None
    return faust.SASLCredentials(
        username=username,
        password=password,
        ssl_context=context,
        mechanism=settings.sasl_mechanism,
    )


app = durable.App(
    settings.insights_app_id,
    broker=[f"kafka://{host.strip()}" for host in settings.bootstrap_servers.split(",")],
    broker_credentials=_credentials(settings),
    # faust's exactly-once mode duplicates output (faust-streaming #517, #323, #177): at-least-once
    # with idempotent findings instead.
    processing_guarantee="at_least_once",
    store="memory://",  # tables are rebuilt from their changelog topics on every start
    datadir=str(settings.data_dir / "insights"),
    value_serializer="raw",
    key_serializer="raw",
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication,
    consumer_auto_offset_reset="earliest",
    # Static membership: a restarted worker takes its partitions back at once instead of
    # waiting for the dead member's session to expire and rebalancing a second time.
    consumer_group_instance_id=f"{settings.insights_app_id}-worker-1",
    web_enabled=bool(settings.insights_port),
    web_port=settings.insights_port or 6066,
    web_bind=settings.bind_host,
    producer_acks=-1,
)
step_events = app.topic(*INPUTS, key_serializer="raw", value_serializer="raw")
# Registered-and-classified complaints re-keyed by their surge group, so that one group's windows
# live in one partition of the windows table (its changelog follows the source partition).
complaints_by_group = app.topic(
    f"{settings.insights_app_id}-complaints-by-group",
    key_serializer="raw",
    value_serializer="json",
    partitions=settings.partitions,
    internal=True,
)
findings = app.topic(OUTPUT, key_serializer="raw", value_serializer="raw")
TABLE_SCHEMA: faust.Schema = faust.Schema(key_serializer="json", value_serializer="json")
cases = app.Table("cases", default=None, schema=TABLE_SCHEMA)  # case id -> facts.Record
windows = app.Table("windows", default=None, schema=TABLE_SCHEMA)  # [group, day] -> counted cases, finding

# Finding ids this process re-sent after recovery: the next event for the key only marks them sent.
resent: set[str] = set()


async def _deliver(envelope_json: str, key: str) -> None:
    """Send a recorded finding and wait until the broker has it."""
    data = envelope_json.encode()  # the recorded bytes, so a re-send is byte for byte the same
    envelope = decode(Envelope, data)
    sent = await findings.send(key=key.encode(), value=data, headers=headers_for(envelope), force=True)
    await sent
    metrics.FINDINGS.labels(envelope.type).inc()


async def _record_and_send(table: Any, key: str, state: dict[str, Any], finding: Envelope) -> None:
    """Record the finding in the table, make the changelog durable, then send and mark it sent:
    a crash anywhere re-sends the recorded finding, never a different one."""
    state = {**state, "finding": encode(finding).decode(), "sent": False}
    table[key] = state
    await app.producer.flush()
    await _deliver(state["finding"], finding.case_id)
    table[key] = {**state, "sent": True}


@app.agent(step_events, concurrency=1)
async def follow_cases(stream: faust.StreamT) -> AsyncIterator[None]:
    async for event in stream.events():
        try:
            envelope = decode(Envelope, event.value)
            if envelope.step == "insights":
                continue
            key = envelope.case_id
            before = cases.get(key) or facts.new_record()
            record = facts.absorb(before, envelope)
            forward = facts.surge_input(record, envelope)
            finding = facts.risk_finding(record, envelope, MODEL)
        except DecodeError as exc:
            log.warning("skipped undecodable %s: %s", event.message.topic, exc.reason)
            continue
        except Exception:  # no input, whatever its values, may stop the service
            log.exception(
                "skipped %s[%d]@%d", event.message.topic, event.message.partition, event.message.offset
            )
            metrics.ERRORS.labels("insights").inc()
            continue
        if record["finding"] is not None and not record["sent"]:
            await _resend(record["finding"], key)  # recorded before a crash: send the same again
            record["sent"] = True
        if forward is not None:
            await (await complaints_by_group.send(key=forward["group"].encode(), value=forward, force=True))
            record["forwarded"] = True
        if finding is not None:
            await _record_and_send(cases, key, record, finding)
        elif record != before:
            cases[key] = record
        yield None


@app.agent(complaints_by_group, concurrency=1)
async def count_complaints(stream: faust.StreamT) -> AsyncIterator[None]:
    async for item in stream:
        group, day, case_id = item["group"], item["day"], item["case_id"]
        key = json.dumps([group, day])
        state = windows.get(key) or {"cases": [], "finding": None, "sent": False}
        if state["finding"] is not None and not state["sent"]:
            await _resend(state["finding"], facts.window_id(group, day))
            state = {**state, "sent": True}
        if case_id not in state["cases"]:
            state = {**state, "cases": sorted({*state["cases"], case_id})}  # a set: redelivery counts once
        counts = {d: _count(group, d) for d in RULE.baseline_days_before(day)}
        baseline = RULE.baseline(counts, day)
        count = len(state["cases"])
        category = json.loads(group)[2]
        metrics.SURGE_RATIO.labels(category).set(round(count / RULE.required(baseline), 4))
        metrics.SURGE_WINDOW.labels(category).set(count)
        if state["finding"] is None and RULE.surge(count, baseline):
            at = datetime.fromisoformat(item["at"]).astimezone(UTC)
            finding = facts.surge_finding(group, day, count, baseline, RULE, uuid.UUID(item["cause"]), at)
            await _record_and_send(windows, key, state, finding)
            log.info("surge in %s on %s: %d complaints (baseline %.2f/day)", category, day, count, baseline)
        else:
            windows[key] = state
        expired = json.dumps([group, RULE.expired_before(day)])
        old = windows.get(expired)
        if old is not None and (old["finding"] is None or old["sent"]):
            del windows[expired]  # no baseline this group computes from now on reaches back to it
        yield None


def _count(group: str, day: str) -> int:
    return len((windows.get(json.dumps([group, day])) or {"cases": []})["cases"])


@app.on_rebalance_complete.connect  # type: ignore[arg-type]
async def start_uncommitted_partitions_from_the_beginning(sender: Any, **_: Any) -> None:
    """Records fetched while the tables recover are dropped and their read offset advanced
    (faust's Consumer._drain_messages); afterwards faust seeks each partition back to its
    committed offset, but aiokafka's seek_to_committed skips a partition whose committed offset
    is None or 0, so a partition never committed before a crash would silently skip what was
    fetched (found by the SIGKILL test). Such partitions go back to their beginning instead;
    what is read twice is absorbed by the idempotent tables and findings.

    Before any seek, production into the agents' queues is suspended until faust resumes it:
    faust resumed it for the changelog reads and only resumes it again, clearing every queue,
    after `perform_seek` (faust/tables/recovery.py, `on_recovery_completed`). Records the
    fetcher delivered during that seek's round trips were cleared unread, with their read
    offsets advanced: skipped, or committed over as a "gap" (`Consumer._add_gap`). Suspended,
    the fetcher waits on the first such record and delivers it after the clear."""
    app.flow_control.suspend()
    mine = {*INPUTS, complaints_by_group.get_topic_name()}
    committed = await app.consumer.seek_to_committed()  # type: ignore[attr-defined]
    for tp, offset in committed.items():
        if tp.topic in mine and not offset:
            await app.consumer.seek(tp, 0)  # out of range: auto_offset_reset="earliest" applies


async def _resend(finding_json: str, key: str) -> None:
    if json.loads(finding_json)["event_id"] not in resent:
        await _deliver(finding_json, key)


@cases.on_recover
async def resend_unsent_risk_findings() -> None:
    await _resend_unsent(cases, lambda key, state: key)


@windows.on_recover
async def resend_unsent_surge_findings() -> None:
    await _resend_unsent(windows, lambda key, state: facts.window_id(*json.loads(key)))


async def _resend_unsent(table: Any, key_of: Any) -> None:
    """After the tables are back from their changelogs: findings recorded but perhaps never sent
    go out again (same id, same bytes). The table is marked when its key's next event arrives."""
    for key, state in list(table.items()):
        if state and state["finding"] is not None and not state["sent"]:
            await _deliver(state["finding"], key_of(key, state))
            resent.add(json.loads(state["finding"])["event_id"])


@app.page("/windows/")
async def window_counts(web: Any, request: Any) -> Any:
    """Complaints counted per (group, day) window and whether a surge was found (distinct cases)."""
    out = [
        {
            "group": json.loads(json.loads(k)[0]),
            "day": json.loads(k)[1],
            "complaints": len(v["cases"]),
            "surge": v["finding"] is not None,
            "sent": v["sent"],
        }
        for k, v in windows.items()
        if v
    ]
    return web.json(sorted(out, key=lambda w: (w["day"], json.dumps(w["group"]))))


def main() -> int:
    """Run the worker in this process until SIGTERM or SIGINT."""
    port = metrics.serve("insights", settings.metrics_port, host=settings.bind_host)  # base + 9
    log.info(
        "insights: consuming %s; surge rule %s; risk model %s (threshold %.4f)%s",
        ", ".join(INPUTS),
        RULE.id,
        MODEL.version,
        MODEL.threshold,
        f"; metrics on http://127.0.0.1:{port}/metrics" if port else "",
    )
    (settings.data_dir / "insights").mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0
