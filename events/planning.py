"""Events of the planning step (plan formulation and the customer's choice), emitted onto
`negotiation.planning`: proposals over several rounds, approval, and the customer's answer."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from events.base import Identifier, Line, Message, Money
from events.facts import MarketPoint, ProductRecord
from events.plans import CounterOffer, PlanTerms, Route

Round = Annotated[int, Field(ge=1, le=20)]


class PlanProposed(Message):
    """A plan was drawn up by the versioned policy; the same facts give the same offer."""

    type: Literal["PlanProposed"] = "PlanProposed"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    round: Round
    terms: PlanTerms
    value: Money  # what the offer is worth to the customer, for approval limits and reporting
    policy_version: Identifier
    needs_approval: bool
    rationale: list[Line] = Field(default_factory=list, max_length=20)


class FactsRequested(Message):
    """The policy needs facts the case does not have yet (a ledger reading, reference data):
    no plan was proposed; `missing` names them and `reasons` says why, for the handler."""

    type: Literal["FactsRequested"] = "FactsRequested"
    schema_version: Literal[1] = 1
    round: Round
    missing: list[Identifier] = Field(min_length=1, max_length=20)
    reasons: list[Line] = Field(default_factory=list, max_length=20)
    policy_version: Identifier


class ReferenceDataLoaded(Message):
    """Planning took a reference data set as current, as loaded; offers from now on cite it.
    Emitted under the key `reference-data`, not a case id, so a replay sees what was shown."""

    type: Literal["ReferenceDataLoaded"] = "ReferenceDataLoaded"
    schema_version: Literal[1] = 1
    dataset_id: Identifier
    version: Annotated[int, Field(ge=1)]
    source: Line
    as_of: date
    market: list[MarketPoint] = Field(default_factory=list, max_length=50)
    products: list[ProductRecord] = Field(default_factory=list, max_length=500)


class PlanApproved(Message):
    """A supervisor approved a plan above the approval limit; it may now go to the customer."""

    type: Literal["PlanApproved"] = "PlanApproved"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    supervisor_id: Identifier


class PlanOffered(Message):
    """The plan was put to the customer, who may accept, reject or counter it."""

    type: Literal["PlanOffered"] = "PlanOffered"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    round: Round


class PlanAccepted(Message):
    """The customer accepted the plan; execution starts."""

    type: Literal["PlanAccepted"] = "PlanAccepted"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    round: Round


class PlanRejected(Message):
    """The customer rejected the plan; a new round follows, or the further routes."""

    type: Literal["PlanRejected"] = "PlanRejected"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    round: Round
    reason: Line | None = None


class PlanCountered(Message):
    """The customer answered the offer with terms of their own."""

    type: Literal["PlanCountered"] = "PlanCountered"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    round: Round
    counter: CounterOffer


class PlanRevised(Message):
    """A new round's plan replaces an earlier one (after a counter or a default)."""

    type: Literal["PlanRevised"] = "PlanRevised"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    replaces_plan_id: Identifier
    round: Round
    terms: PlanTerms
    value: Money
    policy_version: Identifier
    needs_approval: bool
    rationale: list[Line] = Field(default_factory=list, max_length=20)


class RoutesOffered(Message):
    """No agreement after the last round: the customer is told of the further routes."""

    type: Literal["RoutesOffered"] = "RoutesOffered"
    schema_version: Literal[1] = 1
    routes: list[Route] = Field(min_length=1)


class RouteChosen(Message):
    """The customer chose a further route; the choice is recorded and the case closes."""

    type: Literal["RouteChosen"] = "RouteChosen"
    schema_version: Literal[1] = 1
    route: Route


EVENTS = (
    FactsRequested,
    ReferenceDataLoaded,
    PlanProposed,
    PlanApproved,
    PlanOffered,
    PlanAccepted,
    PlanRejected,
    PlanCountered,
    PlanRevised,
    RoutesOffered,
    RouteChosen,
)
STEP = "planning"
