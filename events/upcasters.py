"""Upcasters: old versions of released events, turned into the current version on read. The
bytes on the topics and in the stores are never rewritten, so their hashes still verify."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """Functions that turn version N of a message type into version N+1, applied on read
    until the current version is reached. Released versions on the topics are never rewritten."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        def add(fn: Upcaster) -> Upcaster:
            key = (type_name, from_version)
            if key in self._steps:
                raise ValueError(f"an upcaster for {type_name} v{from_version} already exists")
            self._steps[key] = fn
            return fn

        return add

    def upcast(self, type_name: str, data: dict[str, Any]) -> dict[str, Any]:
        while True:
            version = data.get("schema_version", 1)
            step = self._steps.get((type_name, version)) if isinstance(version, int) else None
            if step is None:
                return data
            data = step(dict(data))
            if data.get("schema_version") != version + 1:
                raise RuntimeError(f"upcaster for {type_name} v{version} did not set v{version + 1}")

    def __bool__(self) -> bool:
        return bool(self._steps)


UPCASTERS = Upcasters()


@UPCASTERS.register("SatisfactionRecorded", from_version=1)
def satisfaction_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # Version 1 surveys were only ever sent through the mobile app, so that is how every
    # version 1 answer was given.
    return {**data, "schema_version": 2, "answered_via": "app"}
