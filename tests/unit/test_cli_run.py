"""`accord run`'s logging: kafka-python's warning of SASL_PLAINTEXT, which it repeats on every
connection, reaches the service's log once."""

from __future__ import annotations

import io
import logging

from services.cli.run import _Once


def test_a_repeated_warning_is_logged_once_and_another_still_gets_through() -> None:
    out = io.StringIO()
    log = logging.getLogger("test.once")
    log.addHandler(logging.StreamHandler(out))
    log.addFilter(_Once())
    for _ in range(3):
        log.warning("Sending username and password in the clear")
    log.warning("something else")
    assert out.getvalue().splitlines() == ["Sending username and password in the clear", "something else"]
