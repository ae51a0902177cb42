"""A bundle for a regulator: a zip of a window's events byte for byte, each (step, case)
chain's anchor and head, the checksum of the case views folded from those events, and a
manifest of SHA-256 sums; written from events already read, and checked offline."""

from __future__ import annotations

import json
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from events.codec import DecodeError, content_hash, decode
from events.envelope import Envelope
from projections import case_state
from projections.store import checksum
from services.audit.chains import Copy, Finding, Verdict, check_chain, first_copies

FILES = ("events.jsonl", "chains.json", "projections.json")


def write(path: str, picked: list[tuple[bytes, Envelope]], start: datetime, end: datetime) -> dict[str, Any]:
    """Write the bundle of these events (each once, as its bytes sit on its topic); returns the manifest."""
    picked = sorted(picked, key=lambda pair: (pair[1].step, pair[1].case_id, pair[1].sequence))
    events = b"".join(raw + b"\n" for raw, _ in picked)
    chains: dict[str, dict[str, Any]] = {}
    for raw, e in picked:
        key = f"{e.step}|{e.case_id}"
        chain = chains.setdefault(key, {"first_sequence": e.sequence, "anchor_prev_hash": e.prev_hash})
        chain.update(head_sequence=e.sequence, head_hash=content_hash(raw))
    files = {
        "events.jsonl": events,
        "chains.json": json.dumps(chains, indent=1, sort_keys=True).encode(),
        "projections.json": json.dumps(views_checksum([e for _, e in picked])).encode(),
    }
    manifest = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "events": len(picked),
        "chains": len(chains),
        "sha256": {name: content_hash(data) for name, data in files.items()},
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
        bundle.writestr("manifest.json", json.dumps(manifest, indent=1))
    return manifest


def views_checksum(envelopes: list[Envelope]) -> dict[str, Any]:
    """The checksum of the case views folded from these events (projections/store.py's)."""
    by_case: dict[str, list[Envelope]] = defaultdict(list)
    for e in envelopes:
        by_case[e.case_id].append(e)
    cases, digest = checksum(
        (case_id, case_state.fold(case_id, by_case[case_id])) for case_id in sorted(by_case)
    )
    return {"cases": cases, "checksum": digest}


def verify(path: str) -> Verdict:
    """Check a bundle offline: file sums, every hash link and sequence inside it, the chain
    heads, and the view checksum recomputed from its events."""
    with zipfile.ZipFile(path) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        files = {name: bundle.read(name) for name in FILES}
    return check(manifest, files)


def check(manifest: dict[str, Any], files: dict[str, bytes]) -> Verdict:
    verdict = Verdict()
    found = verdict.findings
    for name, data in files.items():
        if content_hash(data) != manifest["sha256"].get(name):
            found.append(Finding(f"{name} does not match its SHA-256 in the manifest", topic=name))
    chains_meta = json.loads(files["chains.json"])

    def events() -> Iterator[Copy]:
        for line_no, raw in enumerate(files["events.jsonl"].splitlines(), start=1):
            where = Finding("", "events.jsonl", offset=line_no)
            try:
                e = decode(Envelope, raw)
            except DecodeError as exc:
                found.append(replace(where, problem=f"not a valid event ({exc.reason})"))
                continue
            verdict.events += 1
            yield Copy(where, raw, e)

    copies = first_copies(events(), found)
    chains: dict[str, list[Copy]] = defaultdict(list)
    for copy in copies.values():
        chains[f"{copy.envelope.step}|{copy.envelope.case_id}"].append(copy)
    verdict.chains = len(chains)
    for key, chain in chains.items():
        step, case_id = key.split("|", 1)
        meta = chains_meta.get(key)
        if meta is None:
            found.append(Finding("chain missing from chains.json", case_id=case_id, step=step))
            continue
        chain.sort(key=lambda copy: copy.envelope.sequence)
        check_chain(chain, found, meta["first_sequence"], meta["anchor_prev_hash"])
        head = chain[-1]
        if (head.envelope.sequence, head.digest) != (meta["head_sequence"], meta["head_hash"]):
            found.append(Finding("chain head differs from chains.json", case_id=case_id, step=step))
    envelopes = [copy.envelope for copy in copies.values() if isinstance(copy.envelope, Envelope)]
    if views_checksum(envelopes) != json.loads(files["projections.json"]):
        found.append(
            Finding(
                "the case views folded from the events do not match projections.json",
                topic="projections.json",
            )
        )
    return verdict
