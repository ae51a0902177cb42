"""Liveness: what /health answers, given what the service's loop reported."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

from services.runtime import metrics
from services.runtime.health import Liveness


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_service_with_nothing_to_do_is_progressing_however_long_it_idles():
    clock = Clock()
    live = Liveness("intake", window_s=60, clock=clock)
    clock.now += 3600
    live.beat()
    live.waiting(0)
    healthy, details = live.report()
    assert healthy and details["progressing"] and details["lag"] == 0


def test_lag_without_progress_for_longer_than_the_window_is_unhealthy():
    clock = Clock()
    live = Liveness("intake", window_s=60, clock=clock)
    clock.now += 3600  # idle for an hour, then work arrives
    live.waiting(25)
    clock.now += 59
    live.beat()
    assert live.report()[0], "work that has waited less than the window is no stall"
    clock.now += 2
    live.beat()
    healthy, details = live.report()
    assert not healthy and details["lag"] == 25 and not details["progressing"]


def test_progress_while_lagging_keeps_the_service_healthy():
    clock = Clock()
    live = Liveness("planning", window_s=60, clock=clock)
    live.waiting(1000)
    for _ in range(10):
        clock.now += 30
        live.beat()
        live.progressed(100)
        live.waiting(900)
    healthy, details = live.report()
    assert healthy and details["last_progress_at"] is not None


def test_a_loop_that_stopped_turning_is_unhealthy_even_without_lag():
    clock = Clock()
    live = Liveness("sla", window_s=60, clock=clock)
    clock.now += 61
    assert not live.report()[0]


def test_the_watchdog_acts_when_the_loop_stops_turning():
    clock = Clock()
    live = Liveness("sla", window_s=0.2, clock=clock)
    hung: list[bool] = []
    thread = live.watch(on_hang=lambda: hung.append(True))
    clock.now += 1
    thread.join(timeout=5)
    assert hung == [True]


def test_health_answers_503_with_the_details_when_not_progressing():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        base = sock.getsockname()[1] - metrics.PORTS["evaluation"]
    clock = Clock()
    live = Liveness("evaluation", window_s=60, clock=clock)
    assert metrics.serve("evaluation", base, live)
    url = f"http://127.0.0.1:{base + metrics.PORTS['evaluation']}/health"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200 and json.load(response)["progressing"] is True
    live.waiting(7)
    clock.now += 120
    try:
        urllib.request.urlopen(url, timeout=5)
        raise AssertionError("expected 503")
    except urllib.error.HTTPError as exc:
        assert exc.code == 503
        assert json.load(exc)["lag"] == 7
    with urllib.request.urlopen(url.replace("/health", "/metrics"), timeout=5) as response:
        assert b'accord_progressing{step="evaluation"} 0.0' in response.read()
