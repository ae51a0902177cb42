"""On the real broker, with every service its own process: hostile submissions and commands
interleaved with valid ones. Every valid submission opens exactly one case, every bad input
is set aside with a reason naming the field, and no service process exits."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from kafka import TopicPartition

from events.base import Actor
from events.codec import encode, header
from events.commands import RecordContactAttempt
from events.topics import COMMANDS, DEADLETTER, REJECTED, SUBMITTED
from services import clients, processes, publish
from services.settings import Settings
from services.steps.intake import case_id_for
from services.steps.registry import NAMES, load
from tests.integration.test_workflow import complaint, submit

RUN = uuid.uuid4().hex[:6]


def _set_aside(settings: Settings, topic: str, prefix: bytes, expected: int) -> dict[bytes, list[dict]]:
    """Records on a rejection topic whose original key starts with prefix, with their headers."""
    reader = clients.consumer(settings)
    parts = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic)]
    reader.assign(parts)
    reader.seek_to_beginning(*parts)
    found: dict[bytes, list[dict]] = {}
    deadline = time.monotonic() + 60
    while sum(len(v) for v in found.values()) < expected and time.monotonic() < deadline:
        for records in reader.poll(timeout_ms=500).values():
            for r in records:
                if r.key and r.key.startswith(prefix):
                    found.setdefault(r.key, []).append(
                        {name: header(r.headers, name) for name in ("error", "error-field", "error-kind")}
                    )
    reader.close()
    return found


def test_hostile_input_among_valid_submissions_stops_no_service(running, live_producer, watcher) -> None:
    pids = {service: processes.running(running, service) for service in processes.SERVICES}
    assert all(pids.values())
    valid = [complaint(f"ok{n}", ("hotline", "branch", "app")[n % 3]) for n in range(6)]
    base = json.loads(encode(valid[0]))
    base.pop("customer")
    now = datetime.now(UTC)
    bad_submissions = {
        b"deep": (b"[" * 60_000, None),
        b"y9999": (
            json.dumps({**base, "submission_id": f"y9-{RUN}", "submitted_at": "9999-12-31T23:59:59Z"}),
            "submitted_at",
        ),
        b"y0001": (
            json.dumps({**base, "submission_id": f"y1-{RUN}", "submitted_at": "0001-01-01T00:00:00Z"}),
            "submitted_at",
        ),
        b"ahead": (
            json.dumps(
                {**base, "submission_id": f"ah-{RUN}", "submitted_at": (now + timedelta(days=3)).isoformat()}
            ),
            "submitted_at",
        ),
        b"amount": (
            json.dumps(
                {**base, "submission_id": f"am-{RUN}", "amount_disputed": {"amount": "10000000000000.00"}}
            ),
            "amount_disputed.amount",
        ),
    }
    # The id of valid[0] again, with another body: a conflict, not a redelivery (sent once
    # valid[0] has opened its case, so it is the second of the two in any read order).
    conflict = json.dumps({**base, "description": "another matter altogether"}).encode()
    wrong_key = json.dumps({**base, "submission_id": f"wk-{RUN}"}).encode()  # valid, keyed otherwise
    case = case_id_for(valid[0])
    command = json.loads(
        encode(
            publish.command(
                case, RecordContactAttempt(method="phone", outcome="reached"), Actor(kind="staff", id="H-001")
            )
        )
    )
    bad_commands = {
        b"junk": (b"\x00\xff not a command", None),
        b"deep": (b"{" * 30_000, None),
        b"callback": (
            json.dumps(
                {
                    **command,
                    "command": {
                        **command["command"],
                        "outcome": "callback_requested",
                        "callback_at": (now + timedelta(days=800)).isoformat(),
                    },
                }
            ),
            "command.RecordContactAttempt.callback_at",
        ),
    }
    submit(live_producer, valid[0])
    for n, sub in enumerate(valid[1:]):
        submit(live_producer, sub)
        name, (raw, _) = list(bad_submissions.items())[n % len(bad_submissions)]
        live_producer.send(
            SUBMITTED.name,
            key=f"bad-{RUN}-{name.decode()}".encode(),
            value=raw if isinstance(raw, bytes) else raw.encode(),
        )
    for name, (raw, _) in list(bad_submissions.items())[len(valid) - 1 :]:
        live_producer.send(
            SUBMITTED.name,
            key=f"bad-{RUN}-{name.decode()}".encode(),
            value=raw if isinstance(raw, bytes) else raw.encode(),
        )
    for name, (raw, _) in bad_commands.items():
        live_producer.send(
            COMMANDS.name,
            key=f"bad-{RUN}-{name.decode()}".encode(),
            value=raw if isinstance(raw, bytes) else raw.encode(),
        )
    live_producer.flush()

    for sub in valid:
        watcher.wait(case_id_for(sub), "CaseAssigned", timeout_s=90)
    # The conflict keyed by its submission id, as channels key submissions (a copy keyed
    # otherwise could reach another partition than the one where its id is claimed: refused).
    live_producer.send(SUBMITTED.name, key=valid[0].submission_id.encode(), value=conflict).get(timeout=30)
    (conflicted,) = _set_aside(running, REJECTED.name, valid[0].submission_id.encode(), 1).values()
    assert conflicted[0]["error-kind"] == "conflict" and conflicted[0]["error-field"] == "submission_id"
    live_producer.send(SUBMITTED.name, key=f"bad-{RUN}-wrongkey".encode(), value=wrong_key).get(timeout=30)
    bad_submissions[b"wrongkey"] = (wrong_key, "key")
    rejected = _set_aside(running, REJECTED.name, f"bad-{RUN}".encode(), len(bad_submissions))
    for name, (_, field) in bad_submissions.items():
        (found,) = rejected[f"bad-{RUN}-{name.decode()}".encode()]
        assert found["error"], name
        if field is not None:
            assert found["error-field"] == field, (name, found)
    # Every step that reads commands sets each bad one aside.
    readers = sum(COMMANDS.name in load(name).inputs for name in NAMES)
    dead = _set_aside(running, DEADLETTER.name, f"bad-{RUN}".encode(), readers * len(bad_commands))
    for name, (_, field) in bad_commands.items():
        found = dead[f"bad-{RUN}-{name.decode()}".encode()]
        assert len(found) == readers, (name, found)
        assert all(f["error-kind"] == "bad-input" for f in found)
        if field is not None:
            assert all(f["error-field"] == field for f in found), found

    time.sleep(2)
    watcher.poll()
    for sub in valid:
        assert watcher.types(case_id_for(sub)).count("ComplaintRegistered") == 1
    assert {service: processes.running(running, service) for service in processes.SERVICES} == pids
