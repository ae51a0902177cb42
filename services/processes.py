"""`accord up` / `accord down`: one process per step, started detached with a pid file and a
log file each under the data directory; start is idempotent, stop is SIGTERM then SIGKILL.
`supervise` starts what exited and restarts what its /health reports as not progressing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from services.runtime.metrics import PORTS
from services.settings import Settings
from services.steps.registry import NAMES

# The pipeline: the steps and the projections (what the demo and the benchmarks start).
PIPELINE = (*NAMES, "projections")
# Everything `accord up` runs: the pipeline, the insights service (services/insights/) and
# the web services: the handler console with the customer's page, and the channels' gateway.
SERVICES = (*PIPELINE, "insights", "console", "gateway")


def _pid_file(settings: Settings, step: str) -> Path:
    return settings.data_dir / "run" / f"{step}.pid"


def running(settings: Settings, step: str) -> int | None:
    try:
        pid = int(_pid_file(settings, step).read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # our own child that died: reap it
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    # A process caught in the middle of its exec shows an empty command line: it is ours.
    command = cmdline.read_bytes() if cmdline.exists() else b""
    if command and f"run\0{step}".encode() not in command:
        return None
    return pid


def start(settings: Settings, step: str, env: dict[str, str] | None = None) -> int:
    pid = running(settings, step)
    if pid:
        return pid
    (settings.data_dir / "run").mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "logs").mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        **(env or {}),
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "ACCORD_DATA_DIR": str(settings.data_dir),
    }
    with open(settings.data_dir / "logs" / f"{step}.log", "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own command line
            [sys.executable, "-m", "services.cli", "run", step],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            start_new_session=True,
        )
    _pid_file(settings, step).write_text(str(proc.pid))
    return proc.pid


def stop(settings: Settings, step: str, grace_s: float = 20.0) -> bool:
    pid = running(settings, step)
    if pid is None:
        _pid_file(settings, step).unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and running(settings, step):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if running(settings, step):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _pid_file(settings, step).unlink(missing_ok=True)
    return True


def up(settings: Settings, steps: tuple[str, ...] = PIPELINE) -> dict[str, int]:
    return {step: start(settings, step) for step in steps}


def down(settings: Settings, steps: tuple[str, ...] = SERVICES) -> list[str]:
    return [step for step in steps if stop(settings, step)]


def health(settings: Settings, step: str, timeout_s: float = 5.0) -> dict | None:
    """What the service's /health says (`progressing` is False on a 503); None when it cannot
    be asked (metrics off, or not answering yet)."""
    if not settings.metrics_port:
        return None
    url = f"http://127.0.0.1:{settings.metrics_port + PORTS[step]}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - loopback
            return dict(json.load(response))
    except urllib.error.HTTPError as exc:
        if exc.code == 503:
            return {"progressing": False, **json.load(exc)}
        return None
    except (OSError, ValueError):
        return None


def supervise(settings: Settings, steps: tuple[str, ...] = PIPELINE) -> dict[str, tuple[int, str]]:
    """One round of supervision: each step as (pid, what was done): `running`, `started` (it
    was not running, or had exited), `restarted` (its /health said it made no progress)."""
    done: dict[str, tuple[int, str]] = {}
    for step in steps:
        pid = running(settings, step)
        if pid is None:
            done[step] = (start(settings, step), "started")
            continue
        state = health(settings, step)
        if state is not None and state.get("progressing") is False:
            stop(settings, step)
            done[step] = (start(settings, step), "restarted (its /health said it made no progress)")
            continue
        done[step] = (pid, "running")
    return done
