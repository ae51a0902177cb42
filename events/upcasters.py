"""Upcasters: old versions of released events, turned into the current version on read. The
bytes on the topics and in the stores are never rewritten, so their hashes still verify."""

from __future__ import annotations

from typing import Any

from events.codec import UPCASTERS


@UPCASTERS.register("SatisfactionRecorded", from_version=1)
def satisfaction_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # Version 1 surveys were only ever sent through the mobile app, so that is how every
    # version 1 answer was given.
    return {**data, "schema_version": 2, "answered_via": "app"}
