"""The chain checks `verify` (on the topics) and `verify --bundle` (offline) share: given the
copies of a step's events as found, then a replayed copy, a modified copy, a gap or a broken
hash link is each named where it sits, with the position of the original for a copy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from events.base import Actor
from events.codec import content_hash, encode
from events.contact import ContactAttempted
from events.envelope import Envelope
from services.audit import Copy, Finding, check_chain, first_copies

TOPIC = "negotiation.contact"


def _chain(length: int) -> list[tuple[bytes, Envelope]]:
    out: list[tuple[bytes, Envelope]] = []
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    for n in range(1, length + 1):
        e = Envelope(
            event_id=uuid.uuid4(),
            case_id="C-AUDIT-1",
            occurred_at=start + timedelta(minutes=n),
            step="contact",
            sequence=n,
            correlation_id=uuid.UUID(int=1),
            actor=Actor(kind="staff", id="H-001"),
            prev_hash=content_hash(out[-1][0]) if out else None,
            event=ContactAttempted(attempt=n, method="phone", outcome="no_answer", within_preference=True),
        )
        out.append((encode(e), e))
    return out


def _at(offset: int, raw: bytes, e: Envelope) -> Copy:
    return Copy(Finding("", TOPIC, 2, offset), raw, e)


def test_an_intact_chain_has_no_finding() -> None:
    found: list[Finding] = []
    copies = first_copies([_at(10 + i, raw, e) for i, (raw, e) in enumerate(_chain(3))], found)
    check_chain(list(copies.values()), found)
    assert found == []


def test_an_old_event_produced_again_byte_for_byte_is_named_with_its_original() -> None:
    chain = _chain(3)
    found: list[Finding] = []
    copies = first_copies(
        [*(_at(10 + i, raw, e) for i, (raw, e) in enumerate(chain)), _at(40, *chain[0])], found
    )
    check_chain(list(copies.values()), found)
    assert len(found) == 1
    (replayed,) = found
    assert (replayed.topic, replayed.partition, replayed.offset) == (TOPIC, 2, 40)
    assert replayed.original == f"{TOPIC}[2]@10" and replayed.event_id == str(chain[0][1].event_id)
    assert str(replayed).startswith(
        f"{TOPIC}[2]@40 case C-AUDIT-1: a duplicate copy of the event at {TOPIC}[2]@10"
    )


def test_a_different_copy_stays_a_modification_and_the_chain_keeps_the_first() -> None:
    chain = _chain(2)
    altered = chain[1][0].replace(b"no_answer", b"reached")
    found: list[Finding] = []
    copies = first_copies([_at(10, *chain[0]), _at(11, *chain[1]), _at(12, altered, chain[1][1])], found)
    check_chain(list(copies.values()), found)
    assert [(f.offset, f.problem) for f in found] == [(12, "a second, different copy of an event (modified)")]


def test_a_missing_event_and_a_reordered_one_break_the_chain() -> None:
    chain = _chain(4)
    found: list[Finding] = []
    check_chain([_at(10, *chain[0]), _at(12, *chain[2]), _at(11, *chain[3])], found)
    problems = [(f.offset, f.problem.split(" (")[0].split(":")[0]) for f in found]
    assert (12, "sequence 3 where 2 was expected") in problems
    assert (12, "hash link to the step's previous event for the case is broken") in problems
    assert (11, "out of order") in problems


def test_a_bundle_line_is_named_by_its_number() -> None:
    raw, e = _chain(1)[0]
    found: list[Finding] = []
    first_copies([Copy(Finding("", "events.jsonl", offset=n), raw, e) for n in (1, 5)], found)
    assert [str(f).split(": a duplicate")[0] for f in found] == ["events.jsonl line 5 case C-AUDIT-1"]
    assert found[0].original == "events.jsonl line 1"
