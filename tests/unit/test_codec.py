"""The codec: every model round-trips, property-based over generated messages; bad bytes give
an error naming the problem (and never the offending value); old versions are upcast on read."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.codec import DecodeError, Upcasters, content_hash, decode, encode, header, headers_for
from events.commands import COMMANDS, CommandEnvelope
from events.envelope import EVENT_TYPES, Envelope
from events.submission import ComplaintSubmission
from tests.strategies import for_model

SCHEMAS = Path(__file__).resolve().parents[2] / "events" / "catalogue" / "schemas"
FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def envelopes_of(event_cls: type) -> st.SearchStrategy[Envelope]:
    return st.tuples(for_model(Envelope), for_model(event_cls)).map(
        lambda pair: pair[0].model_copy(update={"event": pair[1]})
    )


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((SCHEMAS / f"{name}.json").read_text()))


def _valid(data: object, schema: str) -> None:
    _validator(schema).validate(data)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_round_trips_and_matches_its_published_schema(event_type: str) -> None:
    @FAST
    @given(envelopes_of(EVENT_TYPES[event_type]))
    def check(envelope: Envelope) -> None:
        data = encode(envelope)
        assert decode(Envelope, data) == envelope
        assert encode(decode(Envelope, data)) == data  # canonical: re-encoding is byte-identical
        _valid(json.loads(data), "Envelope")
        _valid(json.loads(data)["event"], event_type)
        assert header(headers_for(envelope), "type") == event_type

    check()


@pytest.mark.parametrize("command_cls", COMMANDS, ids=lambda c: c.__name__)
def test_every_command_round_trips(command_cls: type) -> None:
    @FAST
    @given(st.tuples(for_model(CommandEnvelope), for_model(command_cls)))
    def check(pair: tuple[CommandEnvelope, object]) -> None:
        command = pair[0].model_copy(update={"command": pair[1]})
        data = encode(command)
        assert decode(CommandEnvelope, data) == command
        _valid(json.loads(data), "CommandEnvelope")

    check()


@settings(max_examples=200, deadline=None)
@given(for_model(ComplaintSubmission))
def test_any_valid_submission_round_trips_unchanged(submission: ComplaintSubmission) -> None:
    data = encode(submission)
    assert decode(ComplaintSubmission, data) == submission
    _valid(json.loads(data), "ComplaintSubmission")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_either_decode_or_raise_a_decode_error(data: bytes) -> None:
    try:
        decode(ComplaintSubmission, data)
    except DecodeError as exc:
        assert exc.reason.startswith(("invalid submission", "empty message"))


VALID = {
    "submission_id": "app-1",
    "channel": "app",
    "submitted_at": "2026-01-05T09:30:00+08:00",
    "customer_id": "CUST-1",
    "customer": {"name": "李娜", "phone": "+86 139 1234 5678"},
    "subject": "Fee charged twice",
    "description": "两次扣费 🙁",
    "amount_disputed": {"amount": "25.00"},
}


def _reason(raw: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(ComplaintSubmission, raw)
    return caught.value


def with_(**changes: object) -> bytes:
    return json.dumps({**VALID, **changes}).encode()


def test_a_valid_submission_in_chinese_with_emoji_is_accepted_and_normalised_to_utc() -> None:
    submission = decode(ComplaintSubmission, json.dumps(VALID).encode())
    assert submission.submitted_at.isoformat() == "2026-01-05T01:30:00+00:00"
    assert submission.description == "两次扣费 🙁"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "empty message"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (with_(channel="fax"), "channel: Input should be 'hotline', 'branch' or 'app'"),
        (with_(submitted_at="2026-01-05T09:30:00"), "submitted_at: Input should have timezone info"),
        (with_(submitted_at=1234), "submitted_at"),
        (with_(amount_disputed={"amount": "-5"}), "amount_disputed.amount"),
        (with_(amount_disputed={"amount": "1.234"}), "amount_disputed.amount"),
        (with_(subject="two\nlines"), "subject: contains control characters"),
        (with_(description="bell \x07"), "description: contains control characters"),
        (with_(description="x" * 20_001), "description: String should have at most 20000 characters"),
        (with_(surprise=True), "surprise: unknown field"),
        (json.dumps({k: v for k, v in VALID.items() if k != "subject"}).encode(), "subject: field required"),
    ],
    ids=lambda v: v[:30] if isinstance(v, str) else None,
)
def test_bad_submissions_get_an_error_naming_the_problem(raw: bytes, expected: str) -> None:
    assert expected in _reason(raw).reason


def test_a_decode_error_never_repeats_personal_data() -> None:
    error = _reason(with_(customer={"name": "王芳", "phone": "call me maybe 13912345678"}))
    assert error.field == "customer.plain.phone"  # the plain (not sealed) form of `customer`
    assert "13912345678" not in error.reason and "王芳" not in error.reason


def test_personal_data_is_masked_in_reprs() -> None:
    submission = decode(ComplaintSubmission, json.dumps(VALID).encode())
    assert "139 1234" not in repr(submission) and "李娜" not in repr(submission)


@FAST
@given(for_model(Envelope))
def test_an_unknown_event_type_is_named(any_envelope: Envelope) -> None:
    envelope = json.loads(encode(any_envelope))
    envelope["event"] = {"type": "PlanTeleported", "schema_version": 1}
    with pytest.raises(DecodeError, match="event.type: unknown event type 'PlanTeleported'"):
        decode(Envelope, json.dumps(envelope).encode())


@FAST
@given(envelopes_of(EVENT_TYPES["PlanAccepted"]))
def test_an_event_with_a_missing_field_names_the_field(accepted: Envelope) -> None:
    envelope = json.loads(encode(accepted))
    del envelope["event"]["plan_id"]
    with pytest.raises(DecodeError, match=r"event\.PlanAccepted\.plan_id: field required"):
        decode(Envelope, json.dumps(envelope).encode())


@FAST
@given(envelopes_of(EVENT_TYPES["ComplaintClassified"]))
def test_old_event_versions_are_upcast_on_read_and_the_bytes_are_not_rewritten(
    envelope: Envelope,
) -> None:
    registry = Upcasters()

    @registry.register("ComplaintClassified", from_version=0)
    def add_rules_version(data: dict) -> dict:
        return {**data, "schema_version": 1, "rules_version": "legacy"}

    old = json.loads(encode(envelope))
    old["event"]["schema_version"] = 0
    del old["event"]["rules_version"]
    old_bytes = json.dumps(old).encode()

    with pytest.raises(DecodeError):
        decode(Envelope, old_bytes)  # the default registry knows no version 0
    upcast = decode(Envelope, old_bytes, upcasters=registry)
    assert upcast.event.rules_version == "legacy"  # type: ignore[union-attr]
    assert upcast.event_id == envelope.event_id
    assert content_hash(old_bytes) != content_hash(encode(upcast))  # hashes cover stored bytes


def test_submission_versions_are_upcast_too() -> None:
    registry = Upcasters()

    @registry.register("ComplaintSubmission", from_version=0)
    def rename_source(data: dict) -> dict:
        data = dict(data)
        data["channel"] = data.pop("source")
        return {**data, "schema_version": 1}

    legacy = {**VALID, "schema_version": 0, "source": "branch"}
    del legacy["channel"]
    assert decode(ComplaintSubmission, json.dumps(legacy).encode(), upcasters=registry).channel == "branch"


def test_an_upcaster_that_forgets_to_bump_the_version_is_refused() -> None:
    registry = Upcasters()
    registry.register("ComplaintSubmission", from_version=0)(lambda data: data)
    with pytest.raises(RuntimeError, match="did not set v1"):
        decode(ComplaintSubmission, json.dumps({**VALID, "schema_version": 0}).encode(), upcasters=registry)


def test_two_upcasters_for_the_same_version_are_refused() -> None:
    registry = Upcasters()
    registry.register("X", 1)(lambda d: d)
    with pytest.raises(ValueError, match="already exists"):
        registry.register("X", 1)(lambda d: d)
