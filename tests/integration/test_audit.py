"""Audit on the real broker: a case's timeline and its state as of a past moment from the
history alone, and `verify` catching an event forged onto a topic with an ordinary client —
even one whose hash link the forger computed correctly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta

from kafka import KafkaProducer

from events.base import Actor
from events.codec import content_hash, encode
from events.commands import RecordContactAttempt
from events.contact import ContactAttempted
from events.envelope import Envelope
from events.topics import STEP_TOPICS
from services import audit
from tests.integration.test_workflow import act, complaint, submit


def test_a_timeline_and_an_as_of_view_come_from_the_history_alone(running, live_producer, watcher) -> None:
    case = submit(live_producer, complaint("audit1", "hotline"))
    assigned = watcher.wait(case, "CaseAssigned")
    watcher.wait(case, "DeadlineStarted")
    time.sleep(1)
    rows = audit.timeline(running, case)
    kinds = [r["type"] for r in rows]
    assert kinds[:2] == ["ComplaintRegistered", "ComplaintClassified"] and "CaseAssigned" in kinds
    assert all(r["position"].startswith("negotiation.") for r in rows)
    assert rows[2]["caused_by"] is not None and "step" in rows[0]
    handler = Actor(kind="staff", id=assigned.event.handler_id)  # type: ignore[union-attr]
    act(live_producer, case, RecordContactAttempt(method="phone", outcome="reached"), handler)
    attempt = watcher.wait(case, "ContactAttempted")
    time.sleep(1)
    before = audit.as_of(running, attempt.occurred_at - timedelta(microseconds=1), case)
    after = audit.as_of(running, attempt.occurred_at, case)
    assert before["contact_attempts"] == 0 and before["handler"] == handler.id
    assert after["contact_attempts"] == 1 and after["first_contact_at"] is not None
    metrics = audit.as_of(running, attempt.occurred_at)
    assert metrics["overall"]["all"]["cases"] >= 1
    assert "ComplaintRegistered" in audit.to_csv(rows)


def test_verify_passes_on_the_real_history_and_names_a_forged_event(running, live_producer, watcher) -> None:
    case = submit(live_producer, complaint("audit2", "branch", staff_id="H-011"))
    last = watcher.wait(case, "CaseAssigned")
    watcher.wait(case, "DeadlineStarted")
    time.sleep(2)
    clean = audit.verify(running)
    assert clean.ok, "\n".join(str(f) for f in clean.findings[:20])
    assert clean.events > 0 and clean.stored > 0

    # A forger with an ordinary client appends a plausible next event to the contact chain,
    # with the right sequence and a correctly computed hash link.
    forged = Envelope(
        event_id=uuid.uuid4(),
        case_id=case,
        occurred_at=last.occurred_at + timedelta(seconds=1),
        step="contact",
        sequence=last.sequence + 1,
        correlation_id=last.correlation_id,
        causation_id=last.event_id,
        actor=Actor(kind="staff", id="H-011"),
        customer_id=last.customer_id,
        prev_hash=content_hash(encode(last)),
        cause_hash=content_hash(encode(last)),
        event=ContactAttempted(attempt=1, method="phone", outcome="reached", within_preference=True),
    )
    plain = KafkaProducer(bootstrap_servers=running.bootstrap_servers)
    meta = plain.send(STEP_TOPICS["contact"].name, key=case.encode(), value=encode(forged)).get(timeout=30)
    plain.send(STEP_TOPICS["contact"].name, key=case.encode(), value=json.dumps({"junk": True}).encode()).get(
        30
    )
    plain.close()
    time.sleep(1)
    caught = audit.verify(running)
    problems = [str(f) for f in caught.findings]
    assert not caught.ok
    assert any(
        f.offset == meta.offset and f.case_id == case and "never recorded by its step" in f.problem
        for f in caught.findings
    ), problems
    assert any("not a valid event" in p for p in problems), problems


def test_verify_names_an_old_event_produced_again_and_where_its_original_sits(
    running, live_producer, watcher
) -> None:
    case = submit(live_producer, complaint("audit4", "hotline"))
    watcher.wait(case, "CaseAssigned")
    watcher.wait(case, "DeadlineStarted")
    time.sleep(1)
    original, registered = audit.case_events(running, case)[0]
    assert registered.type == "ComplaintRegistered"

    # Anyone with an ordinary, non-transactional client can produce the same bytes again.
    plain = KafkaProducer(bootstrap_servers=running.bootstrap_servers)
    meta = plain.send(original.topic, key=case.encode(), value=original.value).get(timeout=30)
    plain.close()
    assert meta.partition == original.partition and meta.offset > original.offset
    copy_at = f"{original.topic}[{meta.partition}]@{meta.offset}"
    original_at = f"{original.topic}[{original.partition}]@{original.offset}"

    verdict = audit.verify(running, check_stores=False)
    replayed = [f for f in verdict.findings if f.case_id == case and "duplicate copy" in f.problem]
    assert [(f.position, f.original, f.event_id) for f in replayed] == [
        (copy_at, original_at, str(registered.event_id))
    ], [str(f) for f in verdict.findings]
    env = {
        **os.environ,
        "ACCORD_DATA_DIR": str(running.data_dir),
        "KAFKA_BOOTSTRAP_SERVERS": running.bootstrap_servers,
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.strip().startswith(copy_at))
    assert f"case {case}: a duplicate copy of the event at {original_at}" in line, done.stdout


def test_an_exported_bundle_verifies_offline_and_a_tampered_one_does_not(
    running, live_producer, watcher, tmp_path
) -> None:
    import zipfile
    from datetime import UTC, datetime

    sub = complaint("audit3", "app")
    case = submit(live_producer, sub)
    watcher.wait(case, "CaseAssigned")
    watcher.wait(case, "DeadlineStarted")
    time.sleep(1)
    bundle = tmp_path / "bundle.zip"
    manifest = audit.export(running, sub.submitted_at - timedelta(seconds=1), datetime.now(UTC), str(bundle))
    assert manifest["events"] >= 4
    verdict = audit.verify_bundle(str(bundle))
    assert verdict.ok, [str(f) for f in verdict.findings]

    with zipfile.ZipFile(bundle) as original:
        original_files = {name: original.read(name) for name in original.namelist()}
    files = dict(original_files)
    lines = files["events.jsonl"].splitlines()
    index = next(
        i for i, line in enumerate(lines) if case.encode() in line and b"ComplaintRegistered" in line
    )
    lines[index] = lines[index].replace(b'"channel":"app"', b'"channel":"branch"')
    files["events.jsonl"] = b"".join(line + b"\n" for line in lines)

    def write(path, contents) -> None:  # type: ignore[no-untyped-def]
        with zipfile.ZipFile(path, "w") as out:
            for name, data in contents.items():
                out.writestr(name, data)

    careless = tmp_path / "careless.zip"
    write(careless, files)
    assert any("manifest" in str(f) for f in audit.verify_bundle(str(careless)).findings)

    # A careful tamperer also fixes the manifest: the hash chain still gives it away.
    manifest_data = json.loads(files["manifest.json"])
    manifest_data["sha256"]["events.jsonl"] = content_hash(files["events.jsonl"])
    files["manifest.json"] = json.dumps(manifest_data).encode()
    careful = tmp_path / "careful.zip"
    write(careful, files)
    problems = [str(f) for f in audit.verify_bundle(str(careful)).findings]
    assert any(case in p and ("hash link" in p or "chain head" in p) for p in problems), problems

    # An untouched event line repeated (manifest fixed): named as a copy of the first line.
    files = {name: original_files[name] for name in original_files}
    lines = files["events.jsonl"].splitlines()
    files["events.jsonl"] = b"".join(line + b"\n" for line in [*lines, lines[index]])
    manifest_data["sha256"]["events.jsonl"] = content_hash(files["events.jsonl"])
    files["manifest.json"] = json.dumps(manifest_data).encode()
    repeated = tmp_path / "repeated.zip"
    write(repeated, files)
    verdict = audit.verify_bundle(str(repeated))
    copy_at, original_at = f"events.jsonl line {len(lines) + 1}", f"events.jsonl line {index + 1}"
    assert [str(f).split(" (")[0] for f in verdict.findings] == [
        f"{copy_at} case {case}: a duplicate copy of the event at {original_at}"
    ], [str(f) for f in verdict.findings]
