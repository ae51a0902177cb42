"""Who each service is on Kafka and the least it may do there: one SASL principal per service,
`accord-<service>`, and its ACLs, derived from the step registry's specs and the topic declarations,
so a new step gets its principal and its ACLs without an edit here (docs/security.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from events.topics import COMMANDS, EVENT_TOPICS, INSIGHTS, STEP_TOPICS, SUBMITTED, rejection_topic
from services.runtime.loop import group_id
from services.runtime.relay import relay_group, transactional_id
from services.settings import Settings
from services.steps import registry
from services.steps.registry import NAMES, load

if TYPE_CHECKING:
    from kafka.admin import ACL

# The services that are not steps, and what each does on Kafka (the steps' come from their cores).
OTHERS = ("projections", "insights", "console", "gateway")
SERVICES = (*NAMES, *OTHERS)


def principal(service: str) -> str:
    """The SASL username a service connects as."""
    return f"accord-{service}"


@dataclass(frozen=True)
class Access:
    """What one service does on Kafka. Names ending in "-" are prefixes."""

    service: str
    reads: tuple[str, ...] = ()  # topics it consumes (READ, which implies DESCRIBE)
    writes: tuple[str, ...] = ()  # topics it produces to (WRITE, which implies DESCRIBE)
    groups: tuple[str, ...] = ()  # consumer groups it reads, joins or commits (READ)
    transactional_ids: tuple[str, ...] = ()  # its transactional producers' ids (WRITE)
    owns: tuple[str, ...] = ()  # topics it creates and keeps for itself (faust's changelogs)
    describes_groups: tuple[str, ...] = ()  # groups whose committed offsets it only reads (audit)


def step_access(step: str) -> Access:
    """A step reads its inputs (derived from its spec), writes its own topic, the rejection
    topics of its inputs and, if it re-keys its inputs (intake), its internal topics. The names
    of its groups and transactional ids are the runtime's: the loop's group `accord-<step>`
    (services/runtime/loop.py), the relay's group `accord-relay-<step>-<store id>` and
    transactional id `accord-<step>-p<N>` per partition (services/runtime/relay.py), under the
    prefix `accord-<step>-`. The relay commits its position as an offset on its
    own topic's partition 0, in the transaction: TxnOffsetCommit needs READ on that topic."""
    spec = load(step)
    own = STEP_TOPICS[step].name
    rejections = sorted({rejection_topic(topic).name for topic in spec.inputs})
    return Access(
        service=step,
        reads=tuple(dict.fromkeys((*spec.inputs, own))),
        writes=(own, *rejections, *(topic.name for topic in spec.forwards.values())),
        groups=(group_id(step), relay_group(step, "")),
        transactional_ids=(transactional_id(step), f"{transactional_id(step)}-"),
    )


def accesses(settings: Settings) -> list[Access]:
    """Every service's access: the steps from their cores, the others from the topics they use."""
    app = settings.insights_app_id
    return [
        *(step_access(step) for step in registry.names()),
        # the case views fold every event topic; assigned partitions, no group
        Access("projections", reads=tuple(t.name for t in EVENT_TOPICS.values())),
        # faust: the step topics in, findings out, its group, and its own internal topics
        Access(
            "insights",
            reads=tuple(t.name for t in STEP_TOPICS.values()),
            writes=(INSIGHTS.name,),
            groups=(app,),
            owns=(f"{app}-",),
        ),
        # staff and customers act: commands only
        Access("console", writes=(COMMANDS.name,)),
        # the channels submit complaints, and act on cases through it
        Access("gateway", writes=(SUBMITTED.name, COMMANDS.name)),
    ]


def service_acls(settings: Settings) -> dict[str, list[ACL]]:
    """The ACLs of every service's principal: the one place they are computed."""
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    Op = ACLOperation

    def grant(user: str, kind: ResourceType, name: str, *ops: ACLOperation) -> list[ACL]:
        pattern = ACLResourcePatternType.PREFIXED if name.endswith("-") else ACLResourcePatternType.LITERAL
        where = ResourcePattern(kind, name, pattern)
        return [ACL(user, "*", op, ACLPermissionType.ALLOW, where) for op in ops]

    result: dict[str, list[ACL]] = {}
    for access in accesses(settings):
        user = f"User:{principal(access.service)}"
        acls: list[ACL] = []
        for topic in access.reads:
            acls += grant(user, ResourceType.TOPIC, topic, Op.READ)
        for topic in access.writes:
            acls += grant(user, ResourceType.TOPIC, topic, Op.WRITE)
        for group in access.groups:
            acls += grant(user, ResourceType.GROUP, group, Op.READ)
        for txn in access.transactional_ids:
            acls += grant(user, ResourceType.TRANSACTIONAL_ID, txn, Op.WRITE)
        for prefix in access.owns:
            acls += grant(user, ResourceType.TOPIC, prefix, Op.CREATE, Op.READ, Op.WRITE, Op.DESCRIBE_CONFIGS)
        result[principal(access.service)] = list(dict.fromkeys(acls))
    return result
