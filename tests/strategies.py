"""Hypothesis strategies derived from the pydantic models themselves, honouring their
patterns, bounds and discriminated unions, so every message type is covered without a
hand-written example per type."""

from __future__ import annotations

import types
import typing
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel

SAFE_TEXT = st.characters(blacklist_categories=("Cs", "Cc"))


def _constraints(metadata: typing.Iterable[object]) -> dict[str, object]:
    found: dict[str, object] = {}
    for item in metadata:
        nested = getattr(item, "metadata", None)  # a pydantic Field(...) inside Annotated
        if isinstance(nested, list):
            found.update(_constraints(nested))
        for name in (
            "pattern",
            "ge",
            "gt",
            "le",
            "lt",
            "min_length",
            "max_length",
            "max_digits",
            "decimal_places",
        ):
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
    return found


def _registered_names(metadata: typing.Iterable[object]) -> tuple[str, ...] | None:
    """A step name checked against the registry (events/registry.py): one of its names."""
    from events import registry

    checks = {registry.StepName: registry.names, registry.WorkflowStep: registry.steps}
    for kind, names in checks.items():
        validator = typing.get_args(kind)[1]
        if any(item is validator for item in metadata):
            return names()
    return None


def for_type(annotation: object, metadata: typing.Iterable[object] = ()) -> st.SearchStrategy:
    c = _constraints(metadata)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return for_type(base, [*metadata, *extra])
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(annotation))
    names = _registered_names(metadata)
    if names is not None:
        return st.sampled_from(names)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([for_type(arg) for arg in typing.get_args(annotation)])
    if origin is list:
        (item,) = typing.get_args(annotation)
        return st.lists(
            for_type(item), min_size=int(c.get("min_length", 0)), max_size=min(int(c.get("max_length", 3)), 3)
        )
    if origin is dict:
        key, value = typing.get_args(annotation)
        return st.dictionaries(for_type(key), for_type(value), max_size=3)
    if annotation is type(None):
        return st.none()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return for_model(annotation)
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        low = c.get("ge", c.get("gt", -(2**31)))
        high = c.get("le", c.get("lt", 2**31))
        return st.integers(min_value=int(low), max_value=int(high))
    if annotation is float:
        return st.floats(
            min_value=float(c.get("ge", -1e9)), max_value=float(c.get("le", 1e9)), allow_nan=False
        )
    if annotation is Decimal:
        places = int(c.get("decimal_places", 2))
        high = Decimal(str(c.get("le", 10**12)))
        if "max_digits" in c:
            digits = int(c["max_digits"]) - places  # e.g. 14 digits, 2 places: below 10**12
            high = min(high, Decimal(10**digits) - Decimal(1).scaleb(-places))
        return st.decimals(
            min_value=Decimal(str(c.get("ge", 0))),
            max_value=high,
            places=places,
            allow_nan=False,
            allow_infinity=False,
        )
    if annotation in (datetime, AwareDatetime):
        return st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
        )
    if annotation is date:
        return st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
    if annotation is UUID:
        return st.uuids()
    if annotation is str:
        if "pattern" in c:
            return st.from_regex(str(c["pattern"]), fullmatch=True)
        return st.text(
            SAFE_TEXT, min_size=int(c.get("min_length", 0)), max_size=min(int(c.get("max_length", 40)), 40)
        )
    raise TypeError(f"no strategy for {annotation!r}")


def _fields(cls: type[BaseModel]) -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {name: for_type(info.annotation, info.metadata) for name, info in cls.model_fields.items()}
    )


THIRD = Decimal("333333333333.33")


def _ledger_values(values: dict) -> dict:
    """A ledger reading's balance is the sum of its make-up, all in one currency."""
    from events.base import Money

    balance = values["balance"]
    if balance is None:
        parts = dict.fromkeys(("principal", "interest", "fees"))
        currency = None
    else:
        currency = balance.currency
        parts = {
            # a third of the largest amount each, so that their sum stays a valid amount
            k: Money(amount=min(values[k].amount, THIRD) if values[k] else Decimal(0), currency=currency)
            for k in ("principal", "interest", "fees")
        }
        balance = Money(amount=sum(p.amount for p in parts.values()), currency=currency)
    same = {
        k: Money(amount=values[k].amount, currency=currency) if values[k] and currency else values[k]
        for k in ("overdue", "disputed")
    }
    return {**values, **parts, **same, "balance": balance}


def for_model(cls: type[BaseModel]) -> st.SearchStrategy:
    from events.facts import LedgerReading

    if cls is LedgerReading:  # the one model whose fields constrain each other
        return _fields(cls).map(lambda values: cls(**_ledger_values(values)))
    return _fields(cls).map(lambda values: cls(**values))
