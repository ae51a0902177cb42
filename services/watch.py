"""Reads the step topics as a client would, to wait for what a case has become. Used by the
demo, `accord act --wait` and the integration tests; never writes anything."""

from __future__ import annotations

import time
from collections import defaultdict

from events.codec import DecodeError, decode
from events.envelope import Envelope
from events.topics import STEP_TOPICS
from services import clients
from services.settings import Settings


class Watcher:
    def __init__(self, settings: Settings, *, from_beginning: bool = False) -> None:
        self.reader = clients.TopicReader(
            settings,
            [t.name for t in STEP_TOPICS.values()],
            start="beginning" if from_beginning else "end",
            client_id="accord-watch",
        )
        self.cases: dict[str, list[Envelope]] = defaultdict(list)
        self.ids: set = set()

    def poll(self, timeout_ms: int = 200) -> int:
        count = 0
        for record in self.reader.poll(timeout_ms):
            try:
                envelope = decode(Envelope, record.value)
            except DecodeError:
                continue
            if envelope.event_id in self.ids:
                continue
            self.ids.add(envelope.event_id)
            self.cases[envelope.case_id].append(envelope)
            count += 1
        return count

    def types(self, case_id: str) -> list[str]:
        return [e.event.type for e in self.cases.get(case_id, [])]

    def wait(self, case_id: str, *types: str, timeout_s: float = 60.0) -> Envelope:
        """The first event of the case whose type is one of `types`, waiting up to timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:
            for envelope in self.cases.get(case_id, []):
                if envelope.event.type in types:
                    return envelope
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"case {case_id}: no {' or '.join(types)} within {timeout_s:.0f}s "
                    f"(saw {self.types(case_id)})"
                )
            self.poll()

    def latest(self, case_id: str, type_name: str) -> Envelope | None:
        found = [e for e in self.cases.get(case_id, []) if e.event.type == type_name]
        return found[-1] if found else None

    def close(self) -> None:
        self.reader.close()
