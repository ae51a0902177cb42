"""The local Apache Kafka broker: fetch its jars from Maven Central, format KRaft storage once,
start one broker+controller node on loopback, report its status and stop it cleanly."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from string import Template

from services.settings import ROOT, Settings

DEPLOY = ROOT / "deploy" / "kafka"


class BrokerError(RuntimeError):
    """The broker could not be fetched, started or stopped; the message says why."""


@dataclass(frozen=True)
class Paths:
    libs: Path
    home: Path  # data_dir/kafka: config, pid file, logs and the log.dirs folder
    config: Path
    data: Path
    logs: Path
    pid: Path
    lock: Path

    @classmethod
    def of(cls, settings: Settings) -> Paths:
        home = settings.data_dir / "kafka"
        return cls(
            libs=settings.kafka_home / "libs",
            home=home,
            config=home / "server.properties",
            data=home / "data",
            logs=home / "logs",
            pid=home / "broker.pid",
            lock=home / ".lock",
        )


def _say(message: str) -> None:
    print(message, flush=True)


def fetch_jars(settings: Settings, *, quiet: bool = False) -> Path:
    """Copy kafka_2.13 and its runtime dependencies from Maven Central, once."""
    paths = Paths.of(settings)
    if any(paths.libs.glob("kafka_2.13-*.jar")):
        return paths.libs
    if not quiet:
        print(f"fetching Apache Kafka jars from Maven Central into {paths.libs} ...", flush=True)
    cmd = ["mvn", "-q", "-B", "-f", str(DEPLOY / "pom.xml"), "package", f"-Dlibs.dir={paths.libs}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BrokerError("Maven (mvn) is not installed; it is needed to fetch the broker") from exc
    if done.returncode != 0 or not any(paths.libs.glob("kafka_2.13-*.jar")):
        raise BrokerError("fetching the broker jars failed:\n" + (done.stdout + done.stderr)[-3000:])
    return paths.libs


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


def _classpath(paths: Paths) -> str:
    return os.pathsep.join(str(p) for p in sorted(paths.libs.glob("*.jar")))


def _render_config(settings: Settings, paths: Paths) -> None:
    text = Template((DEPLOY / "server.properties").read_text()).substitute(
        host=settings.broker_host,
        port=settings.broker_port,
        controller_port=settings.broker_port + 1,
        data_dir=paths.data,
        partitions=settings.partitions,
    )
    paths.config.write_text(text)


def _format_storage(paths: Paths) -> None:
    if (paths.data / "meta.properties").exists():
        return
    cluster_id = _cluster_id(paths)
    cmd = [
        _java(),
        "-cp",
        _classpath(paths),
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(paths.config),
        "--ignore-formatted",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BrokerError("formatting KRaft storage failed:\n" + (done.stdout + done.stderr)[-3000:])


def _cluster_id(paths: Paths) -> str:
    # KRaft wants a base64url-encoded 16-byte id (what `kafka-storage random-uuid` prints).
    import base64

    file = paths.home / "cluster.id"
    if not file.exists():
        raw = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        file.write_text(raw)
    return file.read_text().strip()


def _read_pid(paths: Paths) -> int | None:
    try:
        pid = int(paths.pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    with contextlib.suppress(FileNotFoundError):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"kafka.Kafka" not in cmdline:
            return None  # the pid was reused by another process
    return pid


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def answers(settings: Settings, timeout_s: float = 5.0) -> bool:
    """True when a broker at the bootstrap address answers a metadata request."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    if not _port_open(settings.broker_host, settings.broker_port):
        return False
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers,
            request_timeout_ms=int(timeout_s * 1000),
            client_id="accord-broker-probe",
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.describe_cluster()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


@contextlib.contextmanager
def _locked(paths: Paths) -> Iterator[None]:
    paths.home.mkdir(parents=True, exist_ok=True)
    with open(paths.lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def start(settings: Settings, *, log=_say) -> int:
    """Start the broker unless one already runs; wait until it answers. Returns its pid
    (0 when a broker not started by Accord already answers at the bootstrap address)."""
    paths = Paths.of(settings)
    with _locked(paths):
        pid = _read_pid(paths)
        if pid is not None:
            if not _wait_ready(settings, paths, pid, log=None):
                raise BrokerError(f"broker pid {pid} runs but does not answer:\n" + _log_tail(paths))
            log(f"broker already running (pid {pid}) at {settings.bootstrap_servers}")
            return pid
        if _port_open(settings.broker_host, settings.broker_port):
            if answers(settings):
                log(f"a broker not started by accord already answers at {settings.bootstrap_servers}")
                return 0
            raise BrokerError(f"port {settings.broker_port} is taken by something that is not Kafka")
        fetch_jars(settings)
        for folder in (paths.data, paths.logs):
            folder.mkdir(parents=True, exist_ok=True)
        _render_config(settings, paths)
        _format_storage(paths)
        started = time.monotonic()
        pid = _spawn(settings, paths)
        paths.pid.write_text(str(pid))
        if not _wait_ready(settings, paths, pid, log=log):
            _kill(pid, paths)
            raise BrokerError(
                f"the broker did not answer within {settings.broker_start_timeout_s:.0f}s; "
                f"last lines of {paths.logs / 'server.log'}:\n" + _log_tail(paths)
            )
        log(
            f"broker started (pid {pid}) at {settings.bootstrap_servers} "
            f"in {time.monotonic() - started:.1f}s; logs in {paths.logs}"
        )
        return pid


def _log_tail(paths: Paths) -> str:
    return tail(paths.logs / "server.log") + "\n" + tail(paths.logs / "stdout.log", 10)


def _spawn(settings: Settings, paths: Paths) -> int:
    cmd = [
        _java(),
        f"-Xms{settings.broker_heap}",
        f"-Xmx{settings.broker_heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={paths.logs}",
        f"-Dlog4j2.configurationFile={DEPLOY / 'log4j2.properties'}",
        "-cp",
        _classpath(paths),
        "kafka.Kafka",
        str(paths.config),
    ]
    with open(paths.logs / "stdout.log", "ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own fixed command line
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the shell that started it; stop() ends it
        )
    return proc.pid


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_ready(settings: Settings, paths: Paths, pid: int, *, log) -> bool:
    deadline = time.monotonic() + settings.broker_start_timeout_s
    shown = time.monotonic()
    while time.monotonic() < deadline:
        if not _alive(pid):
            return False
        if answers(settings, timeout_s=2.0):
            return True
        if log is not None and time.monotonic() - shown > 10:
            log("  ... waiting for the broker to answer")
            shown = time.monotonic()
        time.sleep(0.3)
    return False


def _kill(pid: int, paths: Paths, grace_s: float = 30.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    paths.pid.unlink(missing_ok=True)


def stop(settings: Settings, *, log=_say) -> bool:
    """Stop the broker Accord started (SIGTERM, then SIGKILL after 30 s). False if none ran."""
    paths = Paths.of(settings)
    with _locked(paths):
        pid = _read_pid(paths)
        if pid is None:
            paths.pid.unlink(missing_ok=True)
            log("broker not running")
            return False
        _kill(pid, paths)
        log(f"broker stopped (pid {pid})")
        return True


def status(settings: Settings) -> tuple[int | None, bool]:
    """(pid of the broker Accord started or None, whether the bootstrap address answers)."""
    paths = Paths.of(settings)
    return _read_pid(paths), answers(settings)
