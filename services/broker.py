"""The local Apache Kafka broker: fetch its jars from Maven Central, format KRaft storage once,
start one broker+controller node on loopback, report its status and stop it cleanly. It also
serves SASL/PLAIN users on a second listener, and grants the auditor read-only ACLs."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from services.settings import ROOT, Settings

if TYPE_CHECKING:
    from kafka.admin import ACL

DEPLOY = ROOT / "deploy" / "kafka"
AUDITOR = "auditor"  # the local broker's read-only user, unless ACCORD_AUDIT_KAFKA_USERNAME names another
ADMIN = "admin"  # a super user on the SASL listener (see super.users in server.properties)


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
    credentials: Path  # the SASL users' passwords, readable by the owner only

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
            credentials=home / "credentials.json",
        )


@dataclass(frozen=True)
class Principal:
    """A SASL/PLAIN user of the local broker and where to reach it."""

    username: str
    password: str = field(repr=False)
    bootstrap_servers: str


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


def _render_config(settings: Settings, paths: Paths, users: dict[str, str]) -> None:
    text = Template((DEPLOY / "server.properties").read_text()).substitute(
        host=settings.broker_host,
        port=settings.broker_port,
        controller_port=settings.broker_controller_port,
        sasl_port=settings.broker_sasl_listener_port,
        plain_users=" ".join(f'user_{name}="{password}"' for name, password in sorted(users.items())),
        data_dir=paths.data,
        partitions=settings.partitions,
    )
    _write_private(paths.config, text)  # it holds the users' passwords


def _write_private(path: Path, text: str) -> None:
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(text)


def _audit_username(settings: Settings) -> str:
    return settings.audit_kafka_username or AUDITOR


def _users(settings: Settings, paths: Paths) -> dict[str, str]:
    """The SASL users and their passwords: generated once and kept in the data directory; the
    auditor's comes from ACCORD_AUDIT_KAFKA_PASSWORD when that is set."""
    try:
        users: dict[str, str] = json.loads(paths.credentials.read_text())
    except FileNotFoundError:
        users = {}
    auditor = _audit_username(settings)
    if auditor == ADMIN or not re.fullmatch(r"[A-Za-z0-9._-]+", auditor):
        raise BrokerError(f"{auditor!r} cannot be the local broker's audit user (letters, digits, . _ -)")
    users.setdefault(ADMIN, secrets.token_urlsafe(18))
    if settings.audit_kafka_password:
        users[auditor] = settings.audit_kafka_password.get_secret_value()
    users.setdefault(auditor, secrets.token_urlsafe(18))
    for name, password in users.items():
        # The password goes inside a quoted JAAS string in a properties file.
        if not password or re.search(r'["\\\s]', password):
            raise BrokerError(
                f"the password of {name} must be non-empty, without quotes, backslashes or spaces"
            )
    _write_private(paths.credentials, json.dumps(users, indent=1, sort_keys=True))
    return users


def audit_principal(settings: Settings) -> Principal:
    """The auditor of the broker Accord started in this data directory (after `broker start`)."""
    paths = Paths.of(settings)
    try:
        users = json.loads(paths.credentials.read_text())
    except FileNotFoundError as exc:
        raise BrokerError(f"no local broker credentials in {paths.home}: run `accord broker start`") from exc
    name = _audit_username(settings)
    if name not in users:
        raise BrokerError(f"the local broker has no user {name}: restart it with `accord broker start`")
    return Principal(name, users[name], f"{settings.broker_host}:{settings.broker_sasl_listener_port}")


def audit_acls(username: str) -> list[ACL]:
    """What the audit principal may do, and nothing more: read and describe every topic, and
    describe the relays' consumer groups so it can fetch their committed offsets (OffsetFetch
    and FindCoordinator need DESCRIBE on the group). No WRITE anywhere."""
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    allow = ACLPermissionType.ALLOW
    topics = ResourcePattern(ResourceType.TOPIC, "*", ACLResourcePatternType.LITERAL)
    relays = ResourcePattern(ResourceType.GROUP, "accord-relay-", ACLResourcePatternType.PREFIXED)
    principal = f"User:{username}"
    return [
        ACL(principal, "*", ACLOperation.READ, allow, topics),
        ACL(principal, "*", ACLOperation.DESCRIBE, allow, topics),
        ACL(principal, "*", ACLOperation.DESCRIBE, allow, relays),
    ]


def _grant_audit_acls(settings: Settings, username: str, timeout_s: float = 30.0) -> None:
    """Create the auditor's ACLs (creating an existing ACL is a no-op) and wait until the
    broker's authorizer holds them, so the first audit after `broker start` is not refused."""
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )

    from services import clients

    acls = audit_acls(username)
    wanted = set(acls)
    admin = clients.admin(settings, client_id="accord-broker-acls")
    try:
        failed = admin.create_acls(acls)["failed"]
        if failed:
            raise BrokerError(f"granting the audit principal its ACLs failed: {failed}")
        match = ACLFilter(
            f"User:{username}",
            None,
            ACLOperation.ANY,
            ACLPermissionType.ANY,
            ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
        )
        deadline = time.monotonic() + timeout_s
        while not wanted <= set(admin.describe_acls(match)[0]):
            if time.monotonic() > deadline:
                raise BrokerError(f"the broker did not show the audit ACLs within {timeout_s:.0f}s")
            time.sleep(0.1)
    finally:
        admin.close()


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
    from kafka.errors import KafkaError

    from services import clients

    if not _port_open(settings.broker_host, settings.broker_port):
        return False
    try:
        admin = clients.admin(
            settings, request_timeout_ms=int(timeout_s * 1000), client_id="accord-broker-probe"
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
        if settings.security_protocol != "PLAINTEXT":
            raise BrokerError(
                "the local broker's bootstrap listener is PLAINTEXT; unset KAFKA_SECURITY_PROTOCOL "
                "to start it (its SASL users are for `accord audit`, see docs/security.md)"
            )
        if _port_open(settings.broker_host, settings.broker_sasl_listener_port):
            raise BrokerError(
                f"port {settings.broker_sasl_listener_port} for the SASL listener is taken; "
                "choose another with ACCORD_BROKER_SASL_PORT"
            )
        fetch_jars(settings)
        for folder in (paths.data, paths.logs):
            folder.mkdir(parents=True, exist_ok=True)
        users = _users(settings, paths)
        _render_config(settings, paths, users)
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
        try:
            _grant_audit_acls(settings, _audit_username(settings))
        except Exception as exc:  # noqa: BLE001 - a broker whose auditor cannot read is not ready
            _kill(pid, paths)
            if isinstance(exc, BrokerError):
                raise
            raise BrokerError(f"granting the audit principal its ACLs failed: {exc!r}") from exc
        log(
            f"broker started (pid {pid}) at {settings.bootstrap_servers} "
            f"(SASL users at {settings.broker_host}:{settings.broker_sasl_listener_port}) "
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
