"""A long history for the read-side figures: the real case histories on the topics (a pipeline
run's submissions, commands and events) cloned into as many new cases as it takes, each clone
with its own submission id, case id, event and command ids, its dates moved back by whole days
over ten years, and every hash link and cause hash recomputed, written straight to the topics.
The clones are valid envelopes with gapless sequences and intact chains: `audit verify` finds
nothing wrong with them, and each case's view is its template's with new ids and dates.

    python -m bench.history write N      # after a pipeline run, on its broker (Settings.from_env)
    python -m bench.history rebuild      # a one-pass replay of the event topics: JSON figures
    python -m bench.history verify       # audit verify of the topics: JSON figures

The step stores know nothing of the clones, so the history is verified on the topics alone
(`check_stores=False`); rebuild and verify each run in a process of their own, whose peak
resident memory they report."""

from __future__ import annotations

import hashlib
import json
import re
import resource
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson

from events.facts import REFERENCE_KEY
from events.identity import NAMESPACE, case_id_of, submission_uuid
from events.topics import COMMANDS, STEP_TOPICS, SUBMITTED
from services import clients
from services.settings import Settings

YEARS = 10
_TOKENS = re.compile(
    rb"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    rb"|(?P<hash>[0-9a-f]{64})"
    rb"|(?P<date>\d{4}-\d{2}-\d{2})(?=T)"
    rb'|"submission_id":"(?P<sid>[^"\\]+)"'
)


@dataclass
class Template:
    """One closed case's records, in an order where every hash a record names comes first: per
    record its topic and its bytes cut at the tokens a clone replaces."""

    channel: str
    submission_id: str
    case_id: str
    records: list[tuple[str, list[bytes | tuple[str, bytes]], bytes]]  # topic, pieces, sha256 hex
    events: int


def _submission_uuid(channel: str, submission_id: str) -> str:
    return str(submission_uuid(channel, submission_id))


def templates(settings: Settings) -> list[Template]:
    """Every closed case on the topics, as a template (reference data and open cases left out)."""
    subs: dict[str, tuple[str, str, bytes]] = {}
    rest: dict[str, list[tuple[str, bytes, dict[str, Any]]]] = defaultdict(list)
    names = [SUBMITTED.name, COMMANDS.name, *(t.name for t in STEP_TOPICS.values())]
    for record in clients.read_to_end(settings, names):
        raw = orjson.loads(record.value)
        if record.topic == SUBMITTED.name:
            channel, sid = raw["channel"], raw["submission_id"]
            subs[case_id_of(channel, sid)] = (channel, sid, record.value)
        elif raw.get("case_id") != REFERENCE_KEY:
            rest[raw["case_id"]].append((record.topic, record.value, raw))
    out = []
    for case_id, records in rest.items():
        if case_id not in subs or not any(r[2].get("event", {}).get("type") == "CaseClosed" for r in records):
            continue
        channel, sid, value = subs[case_id]
        # Only the template's own ids are new in a clone: ids it cites from outside (the
        # reference data a plan explains itself by) stay as they are.
        own = {_submission_uuid(channel, sid).encode()}
        own.update(str(r.get("event_id") or r.get("command_id")).encode() for _, _, r in records)
        ordered = _ordered([(SUBMITTED.name, value, {}), *records])
        cut = [(t, _cut(v, case_id, own), hashlib.sha256(v).hexdigest().encode()) for t, v in ordered]
        out.append(Template(channel, sid, case_id, cut, sum(t not in _INPUTS for t, _ in ordered)))
    return out


_INPUTS = (SUBMITTED.name, COMMANDS.name)


def _ordered(records: list[tuple[str, bytes, dict[str, Any]]]) -> list[tuple[str, bytes]]:
    """The records so that each comes after those whose hashes it names (its previous event
    and its cause), each step's events in sequence."""
    by_hash = {hashlib.sha256(v).hexdigest(): i for i, (_, v, _) in enumerate(records)}
    done: list[int] = []
    placed: set[int] = set()

    def place(i: int) -> None:
        if i in placed:
            return
        placed.add(i)
        raw = records[i][2]
        for name in ("prev_hash", "cause_hash"):
            before = by_hash.get(raw.get(name) or "")
            if before is not None:
                place(before)
        done.append(i)

    for i in sorted(
        range(len(records)), key=lambda i: (records[i][0] not in _INPUTS, records[i][2].get("sequence", 0))
    ):
        place(i)
    return [(records[i][0], records[i][1]) for i in done]


def _cut(value: bytes, case_id: str, own: set[bytes]) -> list[bytes | tuple[str, bytes]]:
    """The bytes as literal pieces and (kind, token) pairs: the template's own ids, hashes,
    dates, the submission id, and the case id wherever it appears."""
    pieces: list[bytes | tuple[str, bytes]] = []
    case = case_id.encode()
    at = 0
    for m in _TOKENS.finditer(value):
        kind = m.lastgroup or ""
        if kind == "uuid" and m.group(kind) not in own:
            continue
        start, end = m.span(kind)
        pieces.extend(_split_case(value[at:start], case))
        pieces.append((kind, m.group(kind)))
        at = end
    pieces.extend(_split_case(value[at:], case))
    return pieces


def _split_case(text: bytes, case: bytes) -> list[bytes | tuple[str, bytes]]:
    parts: list[bytes | tuple[str, bytes]] = []
    for i, piece in enumerate(text.split(case)):
        if i:
            parts.append(("case", case))
        if piece:
            parts.append(piece)
    return parts


def clone(template: Template, tag: str, days: int) -> list[tuple[str, bytes, bytes]]:
    """One new case from a template: (topic, key, value) in the order to produce them."""
    sid = f"{template.submission_id}.{tag}"
    case = case_id_of(template.channel, sid)
    ids: dict[bytes, bytes] = {
        _submission_uuid(template.channel, template.submission_id).encode(): _submission_uuid(
            template.channel, sid
        ).encode()
    }
    hashes: dict[bytes, bytes] = {}
    dates: dict[bytes, bytes] = {}
    out = []
    for topic, pieces, original in template.records:
        parts = []
        for piece in pieces:
            if isinstance(piece, bytes):
                parts.append(piece)
                continue
            kind, token = piece
            if kind == "uuid":
                new = ids.get(token)
                if new is None:
                    new = ids[token] = str(uuid.uuid5(NAMESPACE, f"history|{tag}|{token.decode()}")).encode()
                parts.append(new)
            elif kind == "hash":
                parts.append(hashes.get(token, token))
            elif kind == "date":
                new = dates.get(token)
                if new is None:
                    new = dates[token] = (
                        (date.fromisoformat(token.decode()) - timedelta(days=days)).isoformat().encode()
                    )
                parts.append(new)
            elif kind == "sid":
                parts.append(sid.encode())
            else:
                parts.append(case.encode())
        value = b"".join(parts)
        hashes[original] = hashlib.sha256(value).hexdigest().encode()
        out.append((topic, case.encode() if topic != SUBMITTED.name else sid.encode(), value))
    return out


def write(
    settings: Settings, templates_: list[Template], events: int, run: str | None = None
) -> dict[str, Any]:
    """At least `events` events (and their submissions and commands) written to the topics."""
    if not templates_:
        raise SystemExit("no closed case on the topics to clone: run the pipeline first")
    run = run or uuid.uuid4().hex[:6]
    per_round = sum(t.events for t in templates_)
    rounds = -(-events // per_round)
    producer = clients.producer(settings, linger_ms=20, batch_size=512 * 1024)
    started = time.perf_counter()
    written = records = 0
    for n in range(rounds):
        days = int(YEARS * 365 * n / rounds)  # the newest round is the templates' own days
        for i, template in enumerate(templates_):
            for topic, key, value in clone(template, f"h{run}{n}x{i}", days):
                producer.send(topic, key=key, value=value)
                records += 1
            written += template.events
    producer.flush()
    producer.close()
    elapsed = time.perf_counter() - started
    return {
        "events": written,
        "records": records,
        "cases": rounds * len(templates_),
        "templates": len(templates_),
        "seconds": round(elapsed, 1),
        "records_per_second": round(records / elapsed, 1),
    }


def _peak_mib() -> float:
    """Peak resident memory of this process, in MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rebuild(settings: Settings) -> dict[str, Any]:
    """The one-pass replay `accord projections rebuild` runs, of the whole topics, into a
    scratch store; timed from opening the store to the checksum of the rebuilt views."""
    from projections.projector import Projector
    from projections.store import ViewStore

    started = time.perf_counter()
    store = ViewStore.open(settings.data_dir, settings.database_url, prefix="history")
    store.drop()
    store = ViewStore.open(settings.data_dir, settings.database_url, prefix="history")
    projector = Projector(settings, store, client_id="accord-rebuild", audit=True)
    projector.replay(projector.reader.ends())
    projector.close()
    cases, checksum = projector.store.checksum()
    elapsed = time.perf_counter() - started
    projector.store.close()
    return {
        "events": projector.applied,
        "cases": cases,
        "checksum": checksum,
        "seconds": round(elapsed, 2),
        "events_per_second": round(projector.applied / elapsed, 1),
        "peak_rss_mib": _peak_mib(),
    }


def verify(settings: Settings) -> dict[str, Any]:
    from services import audit

    verdict = audit.verify(settings, check_stores=False)
    return {
        "events": verdict.events,
        "chains": verdict.chains,
        "seconds": verdict.seconds,
        "events_per_second": round(verdict.events / verdict.seconds, 1),
        "problems": len(verdict.findings),
        "first_problems": [str(f) for f in verdict.findings[:5]],
        "peak_rss_mib": _peak_mib(),
    }


def main(argv: list[str]) -> None:
    settings = Settings.from_env()
    if argv[0] == "write":
        result = write(settings, templates(settings), int(argv[1]))
    else:
        result = {"rebuild": rebuild, "verify": verify}[argv[0]](settings)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
