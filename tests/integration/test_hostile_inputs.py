"""No input stops a step. Every step's real runner and store (SQLite, no broker) is fed
arbitrary bytes and schema-valid values at the edges of their ranges on each of its input
topics: each input is accepted or rejected with a reason naming the problem, never raised."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.base import EARLIEST, LATEST, Actor, Message
from events.codec import encode
from events.commands import CommandEnvelope, RecordContactAttempt
from events.envelope import Envelope
from events.submission import ComplaintSubmission
from events.topics import COMMANDS, INTAKE_SUBMISSIONS, REJECTED, SUBMITTED
from services import bootstrap
from services.privacy import KeyStore
from services.runtime import metrics
from services.runtime.clock import ManualClock
from services.runtime.processor import Processor
from services.runtime.relay import outgoing
from services.runtime.store import FORWARD, REJECT
from services.settings import Settings
from services.steps.contract import Emit
from services.steps.registry import NAMES, load
from tests.strategies import for_model

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OUTCOMES = {"rejected", "skipped", "duplicate", "recorded", "noted", "no-op", "forwarded"}
OFFSETS = itertools.count()
HYPOTHESIS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def runners(tmp_path_factory) -> dict[str, Processor]:
    base = Settings.from_env({}).model_copy(update={"data_dir": tmp_path_factory.mktemp("hostile")})
    clock = ManualClock(NOW)
    return {name: bootstrap.processor(name, base, clock=clock, sealer=KeyStore(base)) for name in NAMES}


def feed(
    runner: Processor, topic: str, value: bytes | None, headers: list[tuple[str, bytes]] | None = None
) -> tuple[str, dict[str, str] | None]:
    """Hand one record to a runner; return the outcome and, if rejected, its headers. What
    intake's first stage forwards (re-keyed by customer) is handed to its second stage."""
    before = runner.store.last_notification()
    outcome = runner.handle(topic, 0, next(OFFSETS), _key(topic, value), value, headers or [])
    assert outcome in OUTCOMES
    headers = None
    for note in runner.store.notifications(before, 10):
        if note.topic.startswith(REJECT + "|"):
            headers = dict(json.loads(note.state)["headers"])
        if outcome == "forwarded" and note.topic.startswith(FORWARD + "|"):
            record = outgoing(note)
            assert record is not None and record.topic in runner.step.inputs
            return feed(runner, record.topic, record.value, record.headers)
    if outcome == "rejected":
        assert headers is not None and headers["error"], "a rejection names its reason"
    return outcome, headers


def _key(topic: str, value: bytes | None) -> bytes:
    """A submission is keyed by its id, as the channels key it; anything else by a dummy."""
    if topic == SUBMITTED.name:
        with contextlib.suppress(Exception):
            return str(json.loads(value or b"")["submission_id"]).encode()
    return b"key"


PAIRS = [(name, topic) for name in NAMES for topic in load(name).inputs]


@HYPOTHESIS
@given(data=st.binary(max_size=400), pair=st.sampled_from(PAIRS))
def test_arbitrary_bytes_on_any_input_of_any_step_are_rejected_not_raised(runners, data, pair) -> None:
    name, topic = pair
    outcome, headers = feed(runners[name], topic, data)
    assert outcome == "rejected"
    assert headers is not None and headers["error-kind"] == "bad-input"


@pytest.mark.parametrize(("name", "topic"), PAIRS, ids=[f"{n}-{t}" for n, t in PAIRS])
def test_json_nested_ten_thousand_deep_is_rejected_as_invalid_json(runners, name, topic) -> None:
    for value in (b"[" * 50_000, b'{"a":' * 20_000 + b"1" + b"}" * 20_000):
        outcome, headers = feed(runners[name], topic, value)
        assert outcome == "rejected" and headers is not None
        assert headers["error"].startswith("invalid") or "not valid JSON" in headers["error"]


EDGE_TIMES = st.sampled_from(
    [
        EARLIEST,
        EARLIEST + timedelta(seconds=1),
        NOW,
        NOW + timedelta(days=1),
        NOW + timedelta(days=1, seconds=1),
        LATEST - timedelta(seconds=1),
    ]
) | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC))
EDGE_AMOUNTS = st.sampled_from([Decimal("0"), Decimal("0.01"), Decimal("999999999999.99")])


@HYPOTHESIS
@given(
    submission=for_model(ComplaintSubmission),
    at=EDGE_TIMES,
    amount=st.none() | EDGE_AMOUNTS,
    text=st.sampled_from(["x", "长" * 20_000, "a\tb\nc"]),
)
def test_schema_valid_submissions_at_their_edges_open_a_case_or_are_refused_naming_the_field(
    runners, submission: ComplaintSubmission, at: datetime, amount: Decimal | None, text: str
) -> None:
    body = json.loads(encode(submission))
    body.update(submitted_at=at.isoformat(), description=text, submission_id=f"edge-{next(OFFSETS)}")
    body["amount_disputed"] = None if amount is None else {"amount": str(amount), "currency": "CNY"}
    outcome, headers = feed(runners["intake"], SUBMITTED.name, json.dumps(body).encode())
    if at > NOW + timedelta(days=1):
        assert outcome == "rejected" and headers is not None
        assert headers["error-field"] == "submitted_at" and "after it was received" in headers["error"]
    else:
        assert outcome in {"recorded", "duplicate"}, headers


@pytest.mark.parametrize(
    ("submitted_at", "reason"),
    [("0001-01-01T00:00:00Z", "before 2000-01-01"), ("9999-12-31T23:59:59Z", "after 2099")],
)
def test_a_submission_dated_in_year_1_or_9999_is_refused(runners, submitted_at: str, reason: str) -> None:
    body = {
        "submission_id": f"edge-{submitted_at[:4]}",
        "channel": "app",
        "submitted_at": submitted_at,
        "customer_id": "EDGE-1",
        "subject": "edge",
        "description": "edge",
    }
    outcome, headers = feed(runners["intake"], SUBMITTED.name, json.dumps(body).encode())
    assert outcome == "rejected" and headers is not None
    assert headers["error-field"] == "submitted_at" and reason in headers["error"]


def test_a_command_scheduling_a_callback_two_years_ahead_is_refused(runners) -> None:
    command = CommandEnvelope(
        command_id=uuid.UUID("7f0c0f6e-3f4c-4d0a-9a57-2f0b8b7d1e11"),
        case_id="C1",
        issued_at=NOW,
        actor=Actor(kind="staff", id="H-001"),
        command=RecordContactAttempt(method="phone", outcome="callback_requested", callback_at=NOW),
    )  # type: ignore[arg-type]
    body = json.loads(encode(command))
    body["command"]["callback_at"] = (NOW + timedelta(days=730)).isoformat()
    outcome, headers = feed(runners["contact"], COMMANDS.name, json.dumps(body).encode())
    assert outcome == "rejected" and headers is not None
    assert headers["error-field"] == "command.RecordContactAttempt.callback_at"


@HYPOTHESIS
@given(envelope=for_model(Envelope), pair=st.sampled_from(PAIRS))
def test_schema_valid_events_and_commands_never_stop_a_step(runners, envelope: Envelope, pair) -> None:
    name, topic = pair
    message: Message = envelope
    if topic == COMMANDS.name:
        return  # commands: next test
    if topic == SUBMITTED.name:
        return
    errors = metrics.STEP_ERRORS.labels(name, topic)._value.get()
    outcome, headers = feed(runners[name], topic, encode(message))
    assert outcome != "rejected" or (headers is not None and headers["error"])
    assert metrics.STEP_ERRORS.labels(name, topic)._value.get() == errors, headers


@HYPOTHESIS
@given(command=for_model(CommandEnvelope), name=st.sampled_from([n for n, t in PAIRS if t == COMMANDS.name]))
def test_schema_valid_commands_never_stop_a_step(runners, command: CommandEnvelope, name: str) -> None:
    command = command.model_copy(update={"issued_at": NOW})
    errors = metrics.STEP_ERRORS.labels(name, COMMANDS.name)._value.get()
    outcome, headers = feed(runners[name], COMMANDS.name, encode(command))
    assert outcome in OUTCOMES
    assert metrics.STEP_ERRORS.labels(name, COMMANDS.name)._value.get() == errors, headers


def broken_decide(state, message, now, rules) -> list[Emit]:
    """Intake's decision with a bug for one kind of input (a stand-in for any bug)."""
    if isinstance(message, ComplaintSubmission) and message.subject == "boom":
        return [load("intake").decide(state, message, now, rules)[5]]  # IndexError: two events only
    return load("intake").decide(state, message, now, rules)


def test_a_bug_in_a_step_rejects_that_input_as_a_step_error_and_the_stream_goes_on(tmp_path) -> None:
    base = Settings.from_env({}).model_copy(update={"data_dir": tmp_path})
    broken = dataclasses.replace(load("intake"), decide=broken_decide)
    runner = bootstrap.processor(broken, base, clock=ManualClock(NOW), sealer=KeyStore(base))
    body = {
        "submission_id": "s-1",
        "channel": "app",
        "submitted_at": NOW.isoformat(),
        "customer_id": "BUG-1",
        "subject": "boom",
        "description": "d",
    }
    # The decision is intake's second stage: on the submission as re-keyed by customer.
    before = metrics.STEP_ERRORS.labels("intake", INTAKE_SUBMISSIONS.name)._value.get()
    outcome, headers = feed(runner, SUBMITTED.name, json.dumps(body).encode())
    assert outcome == "rejected" and headers is not None
    assert headers["error-kind"] == "step-error"
    assert headers["error"].startswith("step error: intake failed to decide on this input (IndexError in ")
    assert "BUG-1" not in headers["error"]
    assert metrics.STEP_ERRORS.labels("intake", INTAKE_SUBMISSIONS.name)._value.get() == before + 1
    rejected = [n for n in runner.store.notifications(0, 100) if n.topic.startswith(REJECT + "|")]
    assert rejected[-1].topic.startswith(f"{REJECT}|{REJECTED.name}|")  # where the channels look
    assert json.loads(rejected[-1].state)["value"] == base64.b64encode(json.dumps(body).encode()).decode()
    body.update(submission_id="s-2", subject="fine")
    assert feed(runner, SUBMITTED.name, json.dumps(body).encode())[0] == "recorded"


def _submission(**changes: object) -> bytes:
    body = {
        "submission_id": "dup-1",
        "channel": "branch",
        "submitted_at": NOW.isoformat(),
        "customer_id": "DUP-1",
        "subject": "fee",
        "description": "charged twice",
        **changes,
    }
    return json.dumps(body).encode()


def test_a_submission_id_reused_with_another_body_is_a_conflict_not_a_redelivery(tmp_path) -> None:
    base = Settings.from_env({}).model_copy(update={"data_dir": tmp_path})
    intake = bootstrap.processor("intake", base, clock=ManualClock(NOW), sealer=KeyStore(base))
    assert feed(intake, SUBMITTED.name, _submission())[0] == "recorded"
    assert feed(intake, SUBMITTED.name, _submission())[0] == "duplicate"
    # Same bytes in another JSON layout: the same submission.
    assert (
        feed(intake, SUBMITTED.name, json.dumps(json.loads(_submission()), indent=2).encode())[0]
        == "duplicate"
    )
    for other in (
        _submission(description="something else"),
        _submission(customer_id="DUP-2"),  # another customer's stream: caught by the claim
        _submission(subject="other", customer_id="DUP-3", description="x"),
    ):
        outcome, headers = feed(intake, SUBMITTED.name, other)
        assert outcome == "rejected" and headers is not None
        assert headers["error-kind"] == "conflict" and headers["error-field"] == "submission_id"
        assert "already used for a different submission" in headers["error"]
    # After a restart (a new runner on the same store) the claim still holds.
    again = bootstrap.processor("intake", base, clock=ManualClock(NOW), sealer=KeyStore(base))
    assert feed(again, SUBMITTED.name, _submission(customer_id="DUP-4"))[1]["error-kind"] == "conflict"  # type: ignore[index]
    assert feed(again, SUBMITTED.name, _submission())[0] == "duplicate"
