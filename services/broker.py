"""The local Apache Kafka broker: fetch its jars from Maven Central, format KRaft storage once,
start one broker+controller node on loopback (or a cluster of N such nodes, `--nodes 3`), report
its status and stop it cleanly. It also serves SASL/PLAIN users on a second listener: the
auditor, with read-only ACLs, and each service's own principal with the ACLs of
services/principals.py."""

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

from services import principals
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
    def of(cls, settings: Settings, node: int | None = None) -> Paths:
        """One node's files: data_dir/kafka for a single node, data_dir/kafka/node-<id> for a
        node of a cluster (the lock, the credentials and the cluster id stay in data_dir/kafka)."""
        top = settings.data_dir / "kafka"
        home = top if node is None else top / f"node-{node}"
        return cls(
            libs=settings.kafka_home / "libs",
            home=home,
            config=home / "server.properties",
            data=home / "data",
            logs=home / "logs",
            pid=home / "broker.pid",
            lock=top / ".lock",
            credentials=top / "credentials.json",
        )

    @property
    def top(self) -> Path:
        return self.lock.parent


@dataclass(frozen=True)
class Node:
    """One KRaft node (broker and controller) of the local broker, and its ports."""

    id: int
    host: str
    port: int  # PLAINTEXT, the services' bootstrap address
    controller_port: int
    sasl_port: int
    paths: Paths

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


NODE_SPACING = 10  # a cluster's node i listens on the first node's ports + 10 * (i - 1)


def nodes(settings: Settings) -> list[Node]:
    """The nodes `broker start` runs: one per KAFKA_BOOTSTRAP_SERVERS address, or with
    ACCORD_BROKER_NODES (--nodes) N and a single address, N nodes 10 ports apart. Each node has
    its controller on port + 1 and its SASL listener on port + 2 (ACCORD_BROKER_SASL_PORT moves
    the first node's; the others keep their distance)."""
    count = settings.nodes
    given = [a.strip() for a in settings.bootstrap_servers.split(",") if a.strip()]
    if len(given) >= count:
        addresses = [(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in given[:count]]
    elif len(given) == 1:
        addresses = [(settings.broker_host, settings.broker_port + NODE_SPACING * i) for i in range(count)]
    else:
        raise BrokerError(
            f"KAFKA_BOOTSTRAP_SERVERS names {len(given)} brokers but {count} nodes are asked for"
        )
    first = addresses[0][1]
    return [
        Node(
            id=i + 1,
            host=host,
            port=port,
            controller_port=port + 1,
            sasl_port=settings.broker_sasl_listener_port + (port - first),
            paths=Paths.of(settings, None if count == 1 else i + 1),
        )
        for i, (host, port) in enumerate(addresses)
    ]


def bootstrap_servers(settings: Settings) -> str:
    """Every node's address: what the services' KAFKA_BOOTSTRAP_SERVERS should list."""
    return ",".join(node.address for node in nodes(settings))


def sasl_bootstrap_servers(settings: Settings) -> str:
    return ",".join(f"{node.host}:{node.sasl_port}" for node in nodes(settings))


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


def _render_config(settings: Settings, node: Node, cluster: list[Node], users: dict[str, str]) -> None:
    replication = min(len(cluster), 3)
    text = Template((DEPLOY / "server.properties").read_text()).substitute(
        node_id=node.id,
        voters=",".join(f"{n.id}@127.0.0.1:{n.controller_port}" for n in cluster),
        host=node.host,
        port=node.port,
        controller_port=node.controller_port,
        sasl_port=node.sasl_port,
        plain_users=" ".join(f'user_{name}="{password}"' for name, password in sorted(users.items())),
        data_dir=node.paths.data,
        partitions=settings.partitions,
        replication=replication,
        min_isr=max(1, min(2, replication - 1)),
    )
    _write_private(node.paths.config, text)  # it holds the users' passwords


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
    for service in principals.SERVICES:  # each service's own principal (docs/security.md)
        users.setdefault(principals.principal(service), secrets.token_urlsafe(18))
    for name, password in users.items():
        # The password goes inside a quoted JAAS string in a properties file.
        if not password or re.search(r'["\\\s]', password):
            raise BrokerError(
                f"the password of {name} must be non-empty, without quotes, backslashes or spaces"
            )
    _write_private(paths.credentials, json.dumps(users, indent=1, sort_keys=True))
    # The services' passwords alone, for ACCORD_KAFKA_CREDENTIALS: no service reads admin's.
    mine = {principals.principal(s): users[principals.principal(s)] for s in principals.SERVICES}
    _write_private(services_credentials(settings), json.dumps(mine, indent=1, sort_keys=True))
    return users


def services_credentials(settings: Settings) -> Path:
    """The file of the services' own principals and passwords (ACCORD_KAFKA_CREDENTIALS)."""
    return Paths.of(settings).top / "services.json"


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
    return Principal(name, users[name], sasl_bootstrap_servers(settings))


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


def _grant_acls(settings: Settings, acls: list[ACL], timeout_s: float = 30.0) -> None:
    """Create the ACLs (creating an existing ACL is a no-op) and wait until the broker's
    authorizer holds them, so the first client after `broker start` is not refused."""
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )

    from services import clients

    wanted = set(acls)
    admin = clients.admin(settings, client_id="accord-broker-acls")
    try:
        failed = admin.create_acls(acls)["failed"]
        if failed:
            raise BrokerError(f"granting the principals their ACLs failed: {failed}")
        every = ACLFilter(
            None,
            None,
            ACLOperation.ANY,
            ACLPermissionType.ANY,
            ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
        )
        deadline = time.monotonic() + timeout_s
        while not wanted <= set(admin.describe_acls(every)[0]):
            if time.monotonic() > deadline:
                raise BrokerError(f"the broker did not show the principals' ACLs within {timeout_s:.0f}s")
            time.sleep(0.1)
    finally:
        admin.close()


def all_acls(settings: Settings) -> list[ACL]:
    """The auditor's ACLs and every service principal's."""
    acls = audit_acls(_audit_username(settings))
    for granted in principals.service_acls(settings).values():
        acls += granted
    return acls


def _format_storage(paths: Paths) -> None:
    if (paths.data / "meta.properties").exists():
        return
    cluster_id = _cluster_id(paths)  # one id for every node of a cluster
    cmd = [
        _java(),
        "-cp",
        _classpath(paths),
        "kafka.tools.StorageTool",
        "format",
        f"--cluster-id={cluster_id}",  # one argument: an id may start with "-"
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

    file = paths.top / "cluster.id"
    if not file.exists():
        raw = "-"
        while raw.startswith("-"):  # as Kafka's Uuid.randomUuid: "-..." reads as an option
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
    """Start the broker (every node of it) unless it already runs; wait until it answers.
    Returns the first node's pid (0 when a broker not started by Accord already answers at the
    bootstrap address)."""
    cluster = nodes(settings)
    paths = cluster[0].paths
    with _locked(paths):
        pids = {node.id: _read_pid(node.paths) for node in cluster}
        if all(pids.values()):
            if not _wait_ready(settings, cluster, pids, log=None):
                raise BrokerError(
                    f"broker ({_pids_text(pids)}) runs but does not answer:\n" + _logs_tail(cluster)
                )
            log(f"broker already running ({_pids_text(pids)}) at {bootstrap_servers(settings)}")
            return pids[1] or 0
        if len(cluster) == 1 and _port_open(settings.broker_host, settings.broker_port):
            if answers(settings):
                log(f"a broker not started by accord already answers at {settings.bootstrap_servers}")
                return 0
            raise BrokerError(f"port {settings.broker_port} is taken by something that is not Kafka")
        if settings.security_protocol != "PLAINTEXT":
            raise BrokerError(
                "the local broker's bootstrap listener is PLAINTEXT; unset KAFKA_SECURITY_PROTOCOL "
                "to start it (its SASL users are for `accord audit`, see docs/security.md)"
            )
        for node in cluster:
            if pids[node.id]:
                continue
            for what, port in (
                ("broker", node.port),
                ("controller", node.controller_port),
                ("SASL", node.sasl_port),
            ):
                if _port_open(node.host, port):
                    hint = "; choose another with ACCORD_BROKER_SASL_PORT" if what == "SASL" else ""
                    raise BrokerError(f"port {port} for node {node.id}'s {what} listener is taken{hint}")
        fetch_jars(settings)
        users = _users(settings, paths)
        for node in cluster:
            for folder in (node.paths.data, node.paths.logs):
                folder.mkdir(parents=True, exist_ok=True)
            _render_config(settings, node, cluster, users)
            _format_storage(node.paths)
        if len(cluster) > 1:
            (paths.top / "cluster.json").write_text(json.dumps([node.address for node in cluster]))
        started = time.monotonic()
        # All at once: a node answers only once a quorum of controllers runs. Only these are
        # stopped again on a failure; nodes that were running are left alone.
        spawned = [node for node in cluster if not pids[node.id]]
        for node in spawned:
            pids[node.id] = _spawn(settings, node.paths)
            node.paths.pid.write_text(str(pids[node.id]))
        if not _wait_ready(settings, cluster, pids, log=log):
            _kill_all(spawned)
            raise BrokerError(
                f"the broker did not answer within {settings.broker_start_timeout_s:.0f}s; "
                "last lines of its log:\n" + _logs_tail(cluster)
            )
        try:
            _grant_acls(
                settings.model_copy(update={"bootstrap_servers": bootstrap_servers(settings)}),
                all_acls(settings),
            )
        except Exception as exc:  # noqa: BLE001 - a broker whose principals cannot work is not ready
            _kill_all(spawned)
            if isinstance(exc, BrokerError):
                raise
            raise BrokerError(f"granting the principals their ACLs failed: {exc!r}") from exc
        where = f"at {bootstrap_servers(settings)} (SASL users at {sasl_bootstrap_servers(settings)})"
        if len(cluster) == 1:
            log(
                f"broker started (pid {pids[1]}) {where} "
                f"in {time.monotonic() - started:.1f}s; logs in {paths.logs}"
            )
        else:
            log(
                f"{len(cluster)}-node cluster started ({_pids_text(pids)}) {where} "
                f"in {time.monotonic() - started:.1f}s; logs in {paths.top}/node-*/logs\n"
                f"  export KAFKA_BOOTSTRAP_SERVERS={bootstrap_servers(settings)}"
            )
        return pids[1] or 0


def _pids_text(pids: dict[int, int | None]) -> str:
    if len(pids) == 1:
        return f"pid {pids[1]}"
    return ", ".join(f"node {node}: pid {pid}" for node, pid in sorted(pids.items()))


def _logs_tail(cluster: list[Node]) -> str:
    if len(cluster) == 1:
        return _log_tail(cluster[0].paths)
    return "\n".join(f"-- node {node.id} --\n" + _log_tail(node.paths) for node in cluster)


def _log_tail(paths: Paths) -> str:
    return tail(paths.logs / "server.log") + "\n" + tail(paths.logs / "stdout.log", 10)


def _spawn(settings: Settings, paths: Paths) -> int:
    cmd = [
        _java(),
        f"-Xms{settings.heap}",
        f"-Xmx{settings.heap}",
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


def unfenced_brokers(settings: Settings, address: str, timeout_s: float = 2.0) -> set[int]:
    """The ids of the brokers the cluster holds as alive, asked of the node at `address`
    (empty when it does not answer)."""
    from kafka.errors import KafkaError

    from services import clients

    host, port = address.rsplit(":", 1)
    if not _port_open(host, int(port)):
        return set()
    probe = settings.model_copy(update={"bootstrap_servers": address, "security_protocol": "PLAINTEXT"})
    try:
        admin = clients.admin(
            probe, request_timeout_ms=int(timeout_s * 1000), client_id="accord-broker-probe"
        )
    except (KafkaError, OSError, ValueError):
        return set()
    try:
        described = admin.describe_cluster()
        return {int(b.get("broker_id", -1)) for b in described.get("brokers", []) if not b.get("is_fenced")}
    except (KafkaError, OSError):
        return set()
    finally:
        admin.close()


def _ready(settings: Settings, cluster: list[Node]) -> bool:
    if len(cluster) == 1:
        return answers(settings.model_copy(update={"bootstrap_servers": cluster[0].address}), timeout_s=2.0)
    # every node answers, and holds every node as an alive broker
    wanted = {node.id for node in cluster}
    return all(wanted <= unfenced_brokers(settings, node.address) for node in cluster)


def _wait_ready(settings: Settings, cluster: list[Node], pids: dict[int, int | None], *, log) -> bool:
    deadline = time.monotonic() + settings.broker_start_timeout_s * (1 if len(cluster) == 1 else 2)
    shown = time.monotonic()
    while time.monotonic() < deadline:
        if not all(pid and _alive(pid) for pid in pids.values()):
            return False
        if _ready(settings, cluster):
            return True
        if log is not None and time.monotonic() - shown > 10:
            log("  ... waiting for the broker to answer")
            shown = time.monotonic()
        time.sleep(0.3)
    return False


def _kill(pid: int, paths: Paths, grace_s: float = 30.0) -> None:
    _kill_many([(pid, paths)], grace_s)


def _kill_many(running: list[tuple[int, Paths]], grace_s: float = 30.0) -> None:
    """SIGTERM to every node at once (a node shutting down alone waits for a quorum of
    controllers that its peers, stopped one by one, would no longer give), SIGKILL after grace_s."""
    for pid, _ in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(pid) for pid, _ in running):
        time.sleep(0.2)
    for pid, paths in running:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        paths.pid.unlink(missing_ok=True)


def _kill_all(cluster: list[Node]) -> None:
    _kill_many([(pid, node.paths) for node in cluster if (pid := _read_pid(node.paths))])


def _started(settings: Settings) -> list[Node]:
    """The nodes in this data directory: those of the settings, or of the cluster that
    `broker start --nodes N` recorded when the settings name a single node."""
    cluster = nodes(settings)
    recorded = Paths.of(settings).top / "cluster.json"
    if len(cluster) == 1 and settings.broker_nodes is None and recorded.exists():
        addresses = json.loads(recorded.read_text())
        other = nodes(settings.model_copy(update={"bootstrap_servers": ",".join(addresses)}))
        if any(_read_pid(node.paths) for node in other) or _read_pid(cluster[0].paths) is None:
            return other
    return cluster


def stop(settings: Settings, *, log=_say) -> bool:
    """Stop the broker Accord started, every node (SIGTERM, then SIGKILL after 30 s). False if
    none ran."""
    cluster = _started(settings)
    with _locked(cluster[0].paths):
        running = [(pid, node) for node in cluster if (pid := _read_pid(node.paths))]
        for node in cluster:
            if not _read_pid(node.paths):
                node.paths.pid.unlink(missing_ok=True)
        if not running:
            log("broker not running")
            return False
        _kill_many([(pid, node.paths) for pid, node in running])
        if len(cluster) == 1:
            log(f"broker stopped (pid {running[0][0]})")
        else:
            log("broker stopped (" + ", ".join(f"node {n.id}: pid {pid}" for pid, n in running) + ")")
        return True


def status(settings: Settings) -> tuple[int | None, bool]:
    """(pid of the broker Accord started or None, whether the bootstrap address answers)."""
    paths = Paths.of(settings)
    return _read_pid(paths), answers(settings)


def node_status(settings: Settings) -> list[tuple[Node, int | None, bool]]:
    """Each node Accord started here: (node, its pid or None, whether it answers)."""
    cluster = _started(settings)
    return [
        (
            node,
            _read_pid(node.paths),
            node.id in unfenced_brokers(settings, node.address)
            if len(cluster) > 1
            else answers(settings.model_copy(update={"bootstrap_servers": node.address})),
        )
        for node in cluster
    ]
