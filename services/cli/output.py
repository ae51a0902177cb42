"""How the `accord` command prints: one line at a time, flushed, and quietly when the reader
of its output has gone."""

from __future__ import annotations

import os
import sys


def say(message: str) -> None:
    try:
        print(message, flush=True)
    except BrokenPipeError:  # `accord report | head`: the reader has gone, which is fine
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
