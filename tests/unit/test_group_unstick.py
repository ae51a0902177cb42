"""services/runtime/group.py unstick: a finished rebalance that kafka-python 3.0 would never
apply is joined again; every other state is left alone."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from kafka.structs import MemberState

from services.runtime.group import unstick


@dataclass
class FakeCoordinator:
    state: str
    join_done: bool | None  # None: no join task
    rejoin: bool
    rejoin_requested: bool = False

    @property
    def _join_task(self) -> object:
        return None if self.join_done is None else SimpleNamespace(is_done=self.join_done)

    def need_rejoin(self) -> bool:
        return self.rejoin

    def request_rejoin(self) -> None:
        self.rejoin_requested = True


def consumer_with(coordinator: FakeCoordinator) -> object:
    return SimpleNamespace(_coordinator=coordinator)


def test_a_finished_join_nobody_will_collect_is_joined_again() -> None:
    coordinator = FakeCoordinator(MemberState.REBALANCING, join_done=True, rejoin=False)
    assert unstick(consumer_with(coordinator))  # type: ignore[arg-type]
    assert coordinator.rejoin_requested


@pytest.mark.parametrize(
    ("state", "join_done", "rejoin"),
    [
        (MemberState.STABLE, None, False),  # a member at rest
        (MemberState.REBALANCING, False, True),  # a join in flight: the next poll() waits for it
        (MemberState.REBALANCING, True, True),  # finished, and the next poll() collects it
        (MemberState.UNJOINED, None, True),  # not joined yet
    ],
)
def test_every_other_state_is_left_alone(state: str, join_done: bool | None, rejoin: bool) -> None:
    coordinator = FakeCoordinator(state, join_done=join_done, rejoin=rejoin)
    assert not unstick(consumer_with(coordinator))  # type: ignore[arg-type]
    assert not coordinator.rejoin_requested
