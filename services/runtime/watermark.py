"""The time up to which a step has read all of its inputs: timers (deadline warnings and
breaches, missed instalments, unanswered surveys) fire only once the watermark has passed
them, so a timer never beats an input that was already on a topic when it fell due."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime


class Watermark:
    """Per input partition, the latest time its records carried.

    - wall clock: a partition read to its end stands at `now` (anything produced later is
      dated later); one still behind stands at the time of the last record read from it, and
      one not read at all holds everything back.
    - message clock (replays of history): there is no `now`, so the watermark is the earliest
      of the partitions' times. A partition that has never carried a record does not hold it
      back; one that carried records before a restart does, until it is read again.
    """

    def __init__(self, clock_mode: str) -> None:
        self.mode = clock_mode
        self.times: dict[str, datetime] = {}
        self.assigned: tuple[str, ...] = ()
        self.held: set[str] = set()  # read before a restart, not yet since

    def assign(self, partitions: Iterable[str], previously_read: Iterable[str] = ()) -> None:
        self.assigned = tuple(partitions)
        self.held = set(previously_read) - set(self.times)

    def saw(self, partition: str, at: datetime | None) -> None:
        if at is None:
            return
        self.held.discard(partition)
        current = self.times.get(partition)
        if current is None or at > current:
            self.times[partition] = at

    def value(self, now: datetime, caught_up: Callable[[str], bool]) -> datetime | None:
        if self.mode == "message":
            if self.held:
                return None
            return min(self.times.values()) if self.times else None
        partitions = self.assigned or tuple(self.times)
        marks: list[datetime] = []
        for partition in partitions:
            if caught_up(partition):
                marks.append(now)
            elif partition in self.times:
                marks.append(min(self.times[partition], now))
            else:
                return None
        return min(marks) if marks else now
