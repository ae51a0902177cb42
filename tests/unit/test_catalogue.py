"""The generated event catalogue is kept in the repo and must match the models."""

from __future__ import annotations

from events import catalogue
from events.envelope import EMITTERS, EVENT_TYPES
from events.topics import ALL


def test_the_committed_catalogue_matches_the_models() -> None:
    stale = [str(p.relative_to(catalogue.ROOT)) for p in catalogue.stale()]
    assert stale == [], f"run `accord catalogue write`: {stale}"


def test_every_event_and_command_explains_itself() -> None:
    undocumented = [
        n for n, c in {**EVENT_TYPES, **catalogue.COMMAND_TYPES}.items() if not catalogue._summary(c)
    ]
    assert undocumented == []


def test_asyncapi_describes_every_topic_and_every_event_on_its_steps_topic() -> None:
    doc = catalogue.asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    addresses = {ch["address"]: ch for ch in doc["channels"].values()}
    assert set(addresses) == {t.name for t in ALL}
    for name, steps in EMITTERS.items():
        for step in steps:
            assert name in addresses[f"negotiation.{step}"]["messages"]
    assert set(EVENT_TYPES) <= set(doc["components"]["messages"])


def test_every_event_type_name_is_past_tense() -> None:
    past = ("ed", "Set", "Sent", "Paid", "Met", "Chosen")
    assert [n for n in EVENT_TYPES if not n.endswith(past)] == []


def test_the_files_derived_from_the_step_registry_are_current() -> None:
    from services import derived

    stale = [str(p.relative_to(catalogue.ROOT)) for p in derived.stale()]
    assert stale == [], f"run `accord catalogue write`: {stale}"
