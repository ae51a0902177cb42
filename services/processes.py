"""`accord up` / `accord down`: each service as processes, N instances of each step, started
detached with a pid file and a log file each under the data directory; start is idempotent, stop
is SIGTERM then SIGKILL. `supervise` starts what exited, restarts what its /health reports as not
progressing (with a back-off per instance, services/restarts.py) and stops instances beyond N."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from services.restarts import Backoff, Ledger
from services.runtime.metrics import PORTS
from services.settings import Settings
from services.steps.registry import NAMES

# The pipeline: the steps and the projections (what the demo and the benchmarks start).
PIPELINE = (*NAMES, "projections")
# Everything `accord up` runs: the pipeline, the insights service (services/insights/) and
# the web services: the handler console with the customer's page, and the channels' gateway.
SERVICES = (*PIPELINE, "insights", "console", "gateway")
# Instance k of a step serves /metrics and /health on its base port + STRIDE * k (the offsets of
# the services stay below 100, so no two instances of any two services share a port).
STRIDE = 100
BACKOFF = Backoff()  # 1 s doubling to 60 s; from 1 s again after a minute's run
_AT_ONCE = Backoff(first_s=0.0, max_s=0.0, stable_s=0.0)


def instance_name(service: str, instance: int = 0) -> str:
    """Instance 0 keeps the service's own name (its pid file, log and the README's commands
    stay as they were); instance k is `<service>-<k>`."""
    return service if instance == 0 else f"{service}-{instance}"


def parse_instance(name: str) -> tuple[str, int]:
    """`intake-2` -> ("intake", 2); `intake` -> ("intake", 0)."""
    service, _, number = name.rpartition("-")
    return (service, int(number)) if service and number.isdigit() else (name, 0)


def metrics_base(settings: Settings, instance: int = 0) -> int:
    """The base metrics port instance `instance` is given (0: metrics are off)."""
    return settings.metrics_port + STRIDE * instance if settings.metrics_port else 0


def instance_env(settings: Settings, service: str, instance: int = 0) -> dict[str, str]:
    """What tells one instance from another: its static group membership (`accord-<step>-<k>`,
    never shared by two live processes) and its ports."""
    return {"ACCORD_INSTANCE": str(instance), "ACCORD_METRICS_PORT": str(metrics_base(settings, instance))}


def _pid_file(settings: Settings, step: str, instance: int = 0) -> Path:
    return settings.data_dir / "run" / f"{instance_name(step, instance)}.pid"


def log_file(settings: Settings, step: str, instance: int = 0) -> Path:
    return settings.data_dir / "logs" / f"{instance_name(step, instance)}.log"


def instances(settings: Settings, service: str) -> list[int]:
    """The instances of a service that have a pid file (running, or exited without `stop`)."""
    found = []
    for path in (settings.data_dir / "run").glob(f"{service}*.pid"):
        name, number = parse_instance(path.stem)
        if name == service:
            found.append(number)
    return sorted(found)


def _environ(pid: int) -> dict[bytes, bytes]:
    with contextlib.suppress(OSError):
        items = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        return dict(item.split(b"=", 1) for item in items if b"=" in item)
    return {}


def running(settings: Settings, step: str, instance: int = 0) -> int | None:
    try:
        pid = int(_pid_file(settings, step, instance).read_text())
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
    if command and f"run\0{step}\0".encode() not in command + b"\0":
        return None
    # The pid of an instance that died may since be another instance's of the same step. (An
    # environment that cannot be read is given the benefit of the doubt: a second process with
    # the same identity would be worse.)
    environ = _environ(pid)
    if environ and environ.get(b"ACCORD_INSTANCE", b"0") != str(instance).encode():
        return None
    return pid


def start(settings: Settings, step: str, env: dict[str, str] | None = None, instance: int = 0) -> int:
    pid = running(settings, step, instance)
    if pid:
        return pid
    (settings.data_dir / "run").mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "logs").mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        **(env or {}),
        **instance_env(settings, step, instance),
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "ACCORD_DATA_DIR": str(settings.data_dir),
    }
    with open(log_file(settings, step, instance), "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own command line
            [sys.executable, "-m", "services.cli", "run", step],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            start_new_session=True,
        )
    _pid_file(settings, step, instance).write_text(str(proc.pid))
    return proc.pid


def stop(settings: Settings, step: str, grace_s: float = 20.0, instance: int = 0) -> bool:
    pid = running(settings, step, instance)
    if pid is None:
        _pid_file(settings, step, instance).unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and running(settings, step, instance):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if running(settings, step, instance):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _pid_file(settings, step, instance).unlink(missing_ok=True)
    return True


def up(
    settings: Settings, steps: tuple[str, ...] = PIPELINE, counts: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Start every instance of `steps` (`counts`: how many of a step; one if not named), each
    by its instance name."""
    return {
        instance_name(step, k): start(settings, step, instance=k)
        for step in steps
        for k in range((counts or {}).get(step, 1))
    }


def down(settings: Settings, steps: tuple[str, ...] = SERVICES) -> list[str]:
    """Stop every instance of `steps`, also those left from an earlier, larger count."""
    ledger = Ledger.load(settings)
    stopped = []
    for step in steps:
        for k in sorted({0, *instances(settings, step)}):
            if stop(settings, step, instance=k):
                stopped.append(instance_name(step, k))
        ledger.instances.pop(step, None)
        for name in [name for name in ledger.records if parse_instance(name)[0] == step]:
            del ledger.records[name]
    ledger.save()
    return stopped


def health(settings: Settings, step: str, timeout_s: float = 5.0, instance: int = 0) -> dict | None:
    """What the service's /health says (`progressing` is False on a 503); None when it cannot
    be asked (metrics off, or not answering yet)."""
    if not settings.metrics_port:
        return None
    url = f"http://127.0.0.1:{metrics_base(settings, instance) + PORTS[step]}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - loopback
            return dict(json.load(response))
    except urllib.error.HTTPError as exc:
        if exc.code == 503:
            return {"progressing": False, **json.load(exc)}
        return None
    except (OSError, ValueError):
        return None


def supervise(
    settings: Settings,
    steps: tuple[str, ...] = PIPELINE,
    counts: Mapping[str, int] | None = None,
    policy: Backoff | None = BACKOFF,
    clock: Callable[[], float] = time.time,
) -> dict[str, tuple[int | None, str]]:
    """One round of supervision: each instance of `steps` (`counts` of a step, default one;
    None: as many as the last `accord up` asked for) as (pid, what was done): `running`,
    `started`, `restarted (…)` after it exited or its /health said it made no progress,
    `waiting …` while its back-off runs (`policy` None: start it now), `stopped (…)` for an
    instance beyond the count. The restarts go to the ledger."""
    ledger = Ledger.load(settings)
    done: dict[str, tuple[int | None, str]] = {}
    for step in steps:
        wanted = (ledger.instances if counts is None else counts).get(step, 1)
        ledger.instances[step] = wanted
        known = {k for name in ledger.records if (k := _instance_of(name, step)) is not None}
        for k in sorted(known | set(instances(settings, step)) | set(range(wanted))):
            name = instance_name(step, k)
            if k >= wanted:
                stop(settings, step, instance=k)
                ledger.records.pop(name, None)
                done[name] = (None, f"stopped (scaled down to {wanted})")
                continue
            done[name] = _supervise_one(settings, step, k, ledger, policy or _AT_ONCE, clock())
    ledger.save()
    return done


def _instance_of(name: str, step: str) -> int | None:
    service, k = parse_instance(name)
    return k if service == step else None


def _supervise_one(
    settings: Settings, step: str, k: int, ledger: Ledger, policy: Backoff, now: float
) -> tuple[int | None, str]:
    record = ledger.record(instance_name(step, k))
    pid = running(settings, step, k)
    if pid is not None:
        state = health(settings, step, instance=k)
        if state is None or state.get("progressing") is not False:
            if record.started_at is None:  # started by someone else (an earlier `accord up`, a test)
                record.started(now)
            return pid, "running"
        stop(settings, step, instance=k)
        record.failed(now, "its /health said it made no progress", policy)
    elif record.due_at is None and (record.started_at is not None or _pid_file(settings, step, k).exists()):
        record.failed(now, "it exited", policy)
        _pid_file(settings, step, k).unlink(missing_ok=True)
    if record.due_at is not None and record.due_at > now:
        return None, f"waiting {record.due_at - now:.0f}s to restart ({record.last_failure})"
    restart = record.due_at is not None
    record.started(now)
    pid = start(settings, step, instance=k)
    return pid, f"restarted ({record.last_failure})" if restart else "started"


def next_due(settings: Settings) -> float | None:
    """When the soonest instance waiting out its back-off may start (wall-clock seconds)."""
    due = [r.due_at for r in Ledger.load(settings).records.values() if r.due_at is not None]
    return min(due) if due else None


def watch(
    settings: Settings,
    steps: tuple[str, ...],
    counts: Mapping[str, int] | None,
    every_s: float,
    report: Callable[[str, int | None, str], None],
    stop_event: threading.Event,
    policy: Backoff = BACKOFF,
) -> None:
    """Supervise every `every_s` seconds (sooner when a back-off ends) until `stop_event`;
    `report` hears of everything but instances found running. After the first round the counts
    are the ledger's, so that another `accord up --instances` scales what this one watches."""
    while not stop_event.is_set():
        for name, (pid, action) in supervise(settings, steps, counts, policy).items():
            if action != "running":
                report(name, pid, action)
        counts = None
        due = next_due(settings)
        wait = every_s if due is None else max(0.2, min(every_s, due - time.time()))
        stop_event.wait(wait)


def status(settings: Settings, timeout_s: float = 2.0) -> list[dict[str, Any]]:
    """Every instance the ledger or a pid file knows of (and one of each service besides): its
    pid or None, restarts, and what its /health says (instance, partitions, lag, progressing)."""
    ledger = Ledger.load(settings)
    rows = []
    for service in SERVICES:
        known = {k for name in ledger.records if (k := _instance_of(name, service)) is not None}
        wanted = set(range(ledger.instances.get(service, 1)))
        for k in sorted(wanted | known | set(instances(settings, service))):
            name = instance_name(service, k)
            pid = running(settings, service, k)
            state = (health(settings, service, timeout_s, k) if pid else None) or {}
            record = ledger.records.get(name)
            waiting = pid is None and record is not None and record.due_at is not None
            rows.append(
                {
                    "service": service,
                    "instance": k,
                    "name": name,
                    "pid": pid,
                    "restarts": record.restarts if record else 0,
                    "partitions": state.get("partitions"),
                    "lag": state.get("lag"),
                    "progressing": state.get("progressing"),
                    "restart_due_at": record.due_at if waiting and record else None,
                    "last_failure": record.last_failure if record else None,
                    "log": str(log_file(settings, service, k)),
                }
            )
    return rows
