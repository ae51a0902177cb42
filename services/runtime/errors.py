"""Which failures end a step's loop (its machinery: database, broker, disk) and which are one
input's problem (a step error: the input is rejected with the reason, the stream goes on)."""

from __future__ import annotations

import os
import sqlite3
import traceback

from eventsourcing.persistence import PersistenceError
from kafka.errors import KafkaError


# Failures of the machinery around a step end the loop so that the process exits and is
# restarted; the input is then read again. Any other exception while one input is decoded,
# routed, folded or decided is that input's problem (or a bug in the step).
class Contended(RuntimeError):
    """Another writer kept moving a stream on while this process decided on an input: two live
    owners of one partition. The process exits; after its restart the group has one owner."""


INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    Contended,
    PersistenceError,
    sqlite3.Error,
    OSError,
    KafkaError,
    MemoryError,
)
try:
    import psycopg

    INFRASTRUCTURE += (psycopg.Error,)
except ImportError:  # pragma: no cover - PostgreSQL support is an optional extra
    pass

PACKAGES = ("services", "events", "projections")


class StepError(Exception):
    """A step's code failed on one input: the reason names where, never the input's values."""

    def __init__(self, step: str, phase: str, exc: BaseException) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        where = next(
            (f"{_module_path(f.filename)}:{f.name}" for f in reversed(frames) if _ours(f.filename)),
            "?",
        )
        self.reason = f"step error: {step} failed to {phase} this input ({type(exc).__name__} in {where})"
        super().__init__(self.reason)


def _ours(filename: str) -> bool:
    return any(f"{os.sep}{package}{os.sep}" in filename for package in PACKAGES)


def _module_path(filename: str) -> str:
    for package in PACKAGES:
        marker = f"{os.sep}{package}{os.sep}"
        if marker in filename:
            return package + "/" + filename.rsplit(marker, 1)[1]
    return os.path.basename(filename)
