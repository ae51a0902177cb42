"""Read connections to the case views, opened once per process and lent to one thread at a
time: the HTTP API's request threads and the metrics scrape. A connection is never shared by two
threads at once, so neither SQLite's nor PostgreSQL's read transactions interleave."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from projections.store import ViewStore


class Readers:
    """A small pool of view stores: `with readers.lend() as store:` takes an idle one, or opens
    one more when all are busy; at most `keep` idle ones are kept. A store whose use raised is
    closed rather than lent again (a PostgreSQL connection may be left in a failed transaction)."""

    def __init__(self, open_store: Callable[[], ViewStore], keep: int = 4) -> None:
        self._open = open_store
        self._idle: queue.LifoQueue[ViewStore] = queue.LifoQueue()
        self._keep = keep
        self._closed = threading.Event()

    @classmethod
    def of(cls, data_dir: Path, database_url: str | None, keep: int = 4) -> Readers:
        return cls(lambda: ViewStore.open(data_dir, database_url), keep)

    @contextmanager
    def lend(self) -> Iterator[ViewStore]:
        try:
            store = self._idle.get_nowait()
        except queue.Empty:
            store = self._open()
        try:
            yield store
        except BaseException:
            store.close()
            raise
        if self._closed.is_set() or self._idle.qsize() >= self._keep:
            store.close()
        else:
            self._idle.put(store)

    def close(self) -> None:
        self._closed.set()
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
