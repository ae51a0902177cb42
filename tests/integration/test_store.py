"""A step's store on both backends, SQLite and a real PostgreSQL server (`make test` starts
one): events and the consumed position in one transaction, redeliveries refused whole."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.persistence import Tracking

from services.runtime.store import EMIT, SEEN, Conflict, Item, StepStore
from services.settings import Settings
from tests.bus import Bus
from tests.integration.test_workflow_in_process import complaint, drive_to_closed


@pytest.fixture
def store(database_url, tmp_path) -> Iterator[StepStore]:
    yield StepStore.open("intake", tmp_path, database_url)


def item(kind: str, n: int) -> Item:
    return Item(kind, "negotiation.intake", "ComplaintRegistered", 1, "C1", f"data-{n}".encode())


def test_items_and_the_consumed_position_are_recorded_together(store: StepStore) -> None:
    store.record("case|C1", 0, [item(SEEN, 1), item(EMIT, 2)], Tracking("complaints.submitted:0", 5))
    assert [(v, i.kind, i.data) for v, i in store.stream("case|C1")] == [
        (1, SEEN, b"data-1"),
        (2, EMIT, b"data-2"),
    ]
    assert store.position("complaints.submitted:0") == 5
    assert [n.state for n in store.notifications(0)] == [b"data-1", b"data-2"]


def test_a_redelivered_position_is_refused_and_writes_nothing(store: StepStore) -> None:
    store.record("case|C1", 0, [item(SEEN, 1)], Tracking("complaints.submitted:0", 5))
    with pytest.raises(Conflict):
        store.record("case|C2", 0, [item(SEEN, 9)], Tracking("complaints.submitted:0", 5))
    assert store.stream("case|C2") == []  # the whole transaction rolled back
    assert store.last_notification() == 1


def test_a_stream_that_moved_on_is_refused(store: StepStore) -> None:
    store.record("case|C1", 0, [item(SEEN, 1)], None)
    with pytest.raises(Conflict):
        store.record("case|C1", 0, [item(SEEN, 2)], Tracking("complaints.submitted:1", 0))
    assert store.position("complaints.submitted:1") is None


def test_the_store_identity_survives_reopening(database_url, tmp_path) -> None:
    first = StepStore.open("sla", tmp_path, database_url).identity()
    assert StepStore.open("sla", tmp_path, database_url).identity() == first


def test_the_workflow_runs_the_same_on_this_backend(database_url, tmp_path) -> None:
    settings = Settings.from_env({}).model_copy(update={"database_url": database_url})
    bus = Bus(tmp_path, settings)
    body = complaint(1, "hotline")
    bus.submit(body)
    bus.submit(body)
    case = drive_to_closed(bus, body)
    kinds = bus.types(case)
    assert kinds.count("ComplaintRegistered") == 1 and "CaseClosed" in kinds


def test_every_store_keeps_to_the_schema_its_url_names(tmp_path) -> None:
    import uuid

    from events.personal import PersonalData
    from projections.store import ViewStore
    from services.privacy import KeyStore
    from services.runtime.database import Database
    from tests.integration.conftest import _postgres_url

    first, second = _postgres_url(), _postgres_url()
    assert Database.parse(first).schema != Database.parse(second).schema  # type: ignore[union-attr]
    positions = {("negotiation.intake", 0): 41}
    views = ViewStore.open(tmp_path, first)
    views.save({}, positions)
    other = ViewStore.open(tmp_path, second)
    assert views.positions() == positions and other.positions() == {}
    settings = Settings.from_env({}).model_copy(update={"database_url": first})
    customer = f"SCHEMA-{uuid.uuid4().hex[:6]}"
    sealed = KeyStore(settings).seal(customer, PersonalData(name="王芳"))
    assert KeyStore(settings).secret(sealed.key_id) is not None
    assert KeyStore(settings.model_copy(update={"database_url": second})).secret(sealed.key_id) is None
    views.close()
    other.close()
