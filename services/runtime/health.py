"""Liveness of one service: has it made progress while it had work waiting, and is its own loop
still turning? `/health` answers from it (200 or 503, see README), and `watch` ends a process
whose loop has stopped turning, so that its supervisor starts it again."""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("accord.health")
STALLED_EXIT = 70  # EX_SOFTWARE: the process hung; its supervisor should start it again


class Liveness:
    """Fed by the service's loop: `beat()` each turn, `progressed(n)` when work was done,
    `waiting(n)` with the work known to be outstanding (consumer lag + relay backlog)."""

    def __init__(self, service: str, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.window_s = window_s
        self.clock = clock
        now = clock()
        self.last_beat = now
        self.last_progress = now
        self.last_progress_wall: datetime | None = None
        self.lag = 0
        self.lag_since = now  # when the work now waiting started waiting (or the last progress)
        self.instance: int | None = None  # which instance of its step (steps only)
        self.partitions: list[int] | None = None  # the partition numbers it owns (steps only)
        self._lock = threading.Lock()

    def beat(self) -> None:
        self.last_beat = self.clock()

    def progressed(self, count: int = 1) -> None:
        if count <= 0:
            return
        with self._lock:
            self.last_progress = self.clock()
            self.last_progress_wall = datetime.now(UTC)

    def waiting(self, lag: int) -> None:
        with self._lock:
            if lag > 0 and self.lag <= 0:
                self.lag_since = self.clock()
            self.lag = lag

    def report(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details): unhealthy when the loop has not turned for the window, or work
        has been waiting for longer than the window without any progress."""
        now = self.clock()
        with self._lock:
            idle = now - max(self.last_progress, self.lag_since)
            loop_age = now - self.last_beat
            stalled = self.lag > 0 and idle > self.window_s
            hung = loop_age > self.window_s
            details = {
                "service": self.service,
                "progressing": not (stalled or hung),
                "lag": self.lag,
                "last_progress_at": self.last_progress_wall.isoformat() if self.last_progress_wall else None,
                "seconds_without_progress": round(now - self.last_progress, 1),
                "loop_seconds_since_turn": round(loop_age, 1),
                "window_seconds": self.window_s,
            }
            if self.partitions is not None:
                details["instance"] = self.instance
                details["partitions"] = list(self.partitions)
        return not (stalled or hung), details

    def watch(self, on_hang: Callable[[], None] | None = None) -> threading.Thread:
        """A daemon thread that ends the process (status 70) when the loop has not turned for
        the window: every Kafka call is bounded, so that only happens if something hangs."""

        def hang() -> None:
            log.critical(
                "%s: the loop has not turned for %.0fs; exiting so that the supervisor restarts it",
                self.service,
                self.clock() - self.last_beat,
            )
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            sys.stderr.flush()
            os._exit(STALLED_EXIT)

        action = on_hang or hang

        def run() -> None:
            while True:
                time.sleep(min(5.0, self.window_s / 4))
                if self.clock() - self.last_beat > self.window_s:
                    action()
                    return

        thread = threading.Thread(target=run, name=f"{self.service}-watchdog", daemon=True)
        thread.start()
        return thread
