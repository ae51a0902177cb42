"""Schema evolution: SatisfactionRecorded went to version 2. A golden history of version-1
events, recorded before the change, is upcast on read and replays to the same state, and its
hash links still verify, because the stored bytes are never rewritten."""

from __future__ import annotations

import json
from pathlib import Path

from events.codec import content_hash, decode, encode
from events.envelope import Envelope
from events.evaluation import SatisfactionRecorded
from projections import case_state

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def history() -> list[bytes]:
    return [line.encode() for line in (GOLDEN / "v1_case_history.jsonl").read_text().splitlines() if line]


def test_version_1_satisfaction_events_are_upcast_to_version_2_on_read() -> None:
    raw = next(b for b in history() if b'"SatisfactionRecorded"' in b)
    assert json.loads(raw)["event"]["schema_version"] == 1
    event = decode(Envelope, raw).event
    assert isinstance(event, SatisfactionRecorded)
    assert event.schema_version == 2 and event.answered_via == "app" and event.csat == 4


def test_the_golden_version_1_history_replays_to_the_same_state_as_before() -> None:
    envelopes = [decode(Envelope, b) for b in history()]
    expected = json.loads((GOLDEN / "v1_case_view.json").read_text())
    assert case_state.fold(envelopes[0].case_id, envelopes) == expected


def test_hash_links_of_the_old_bytes_still_verify_and_are_never_rewritten() -> None:
    chains: dict[str, list[tuple[bytes, Envelope]]] = {}
    for raw in history():
        e = decode(Envelope, raw)
        chains.setdefault(e.step, []).append((raw, e))
    for chain in chains.values():
        chain.sort(key=lambda pair: pair[1].sequence)
        for (prev_raw, _), (_, current) in zip(chain, chain[1:], strict=False):
            assert current.prev_hash == content_hash(prev_raw)
    raw = next(b for b in history() if b'"SatisfactionRecorded"' in b)
    assert encode(decode(Envelope, raw)) != raw  # re-encoding writes v2; the stored v1 stays
