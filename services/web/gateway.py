"""The channels' front door (`accord run gateway`): `POST /v1/complaints` validates a submission,
seals its personal data with the customer's key at the edge and publishes it onto
`complaints.submitted` exactly as `accord submit` does; `POST /v1/cases/{case_id}/commands`
carries a customer's command from a channel's own front end. Each channel authenticates with its
API key (stored hashed); bodies are size-limited and each key is rate-limited."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from events.base import Actor
from events.codec import DecodeError, decode
from events.commands import CommandEnvelope
from events.submission import ComplaintSubmission
from services.steps.intake import case_id_for
from services.web import access, forms, metrics
from services.web.context import Context

log = logging.getLogger("accord.gateway")


class RateLimit:
    """A token bucket per key: `per_minute` requests, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


def problem(status: int, error: str, field: str | None = None, **extra: Any) -> JSONResponse:
    metrics.REFUSED.labels("gateway", str(status)).inc()
    body = {"error": error, **({"field": field} if field else {}), **extra}
    headers = {"Retry-After": str(int(extra["retry_after_s"]) + 1)} if "retry_after_s" in extra else None
    return JSONResponse(body, status_code=status, headers=headers)


_AUTH: dict[int | str, dict[str, Any]] = {
    "401": {"description": "no valid API key"},
    "413": {"description": "body larger than ACCORD_GATEWAY_MAX_BYTES"},
    "422": {"description": "invalid body: `error` names the problem, `field` the field"},
    "429": {"description": "rate limit of the key reached; see Retry-After"},
}


def router(ctx: Context) -> APIRouter:
    r = APIRouter(prefix="/v1")
    limits = RateLimit(ctx.settings.gateway_rate_per_minute)

    async def admitted(request: Request) -> tuple[str, bytes] | JSONResponse:
        """(channel, body) of an authenticated, allowed request, or the refusal."""
        auth = request.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key")
        found = ctx.accounts.channel_for(key)
        if found is None:
            log.warning("refused %s: no valid API key", request.url.path)
            return problem(401, "a valid API key is required (Authorization: Bearer <key>)")
        channel, key_hash = found
        wait = limits.take(key_hash)
        if wait:
            log.warning("refused %s from channel %s: rate limit", request.url.path, channel)
            return problem(429, "rate limit reached for this key", retry_after_s=round(wait, 1))
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > ctx.settings.gateway_max_bytes:
            return problem(413, f"body larger than {ctx.settings.gateway_max_bytes} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > ctx.settings.gateway_max_bytes:
                return problem(413, f"body larger than {ctx.settings.gateway_max_bytes} bytes")
        return channel, body

    @r.post(
        "/complaints",
        status_code=202,
        summary="Submit a complaint",
        responses={
            "202": {
                "description": "on `complaints.submitted`, personal data sealed; "
                "the case id and the customer's link"
            },
            **_AUTH,
            "403": {"description": "the submission names another channel than the key's"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ComplaintSubmission"}}
                },
            }
        },
    )
    async def submit(request: Request) -> JSONResponse:
        got = await admitted(request)
        if isinstance(got, JSONResponse):
            return got
        channel, body = got
        try:
            from datetime import UTC, datetime

            submission = decode(ComplaintSubmission, body, received_at=datetime.now(UTC))
        except DecodeError as exc:
            return problem(422, exc.reason, exc.field)
        if submission.channel != channel:
            return problem(403, f"this key belongs to channel {channel}", "channel")
        # The one publishing path: seals `customer` with the customer's key and redacts their
        # identifiers from the text, keyed by submission id — a re-sent submission is the same
        # record to intake, so retries are safe.
        from services import publish
        from services.privacy import KeyStore

        keys = KeyStore(ctx.settings)
        try:
            meta = publish.send(ctx.producer, submission, keys).get(timeout=15)
        finally:
            keys.close()
        case_id = case_id_for(submission)
        metrics.SUBMITTED.labels(channel).inc()
        log.info("channel %s submitted %s -> case %s", channel, submission.submission_id, case_id)
        return JSONResponse(
            {
                "submission_id": submission.submission_id,
                "case_id": case_id,
                "topic": meta.topic,
                "partition": meta.partition,
                "offset": meta.offset,
                "customer_link": ctx.customer_link(case_id),
            },
            status_code=202,
        )

    @r.post(
        "/cases/{case_id}/commands",
        status_code=202,
        summary="Send a customer's command from a channel's front end",
        responses={
            "202": {"description": "on `negotiation.commands`"},
            **_AUTH,
            "404": {"description": "no such case for this customer"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["customer_id", "command"],
                            "properties": {
                                "customer_id": {
                                    "type": "string",
                                    "description": "the case's customer, as the channel knows them",
                                },
                                "command": {
                                    "type": "object",
                                    "description": "one of "
                                    + ", ".join(access.CUSTOMER_ACTIONS)
                                    + " (see the event catalogue)",
                                },
                            },
                        }
                    }
                },
            }
        },
    )
    async def command(request: Request, case_id: str) -> JSONResponse:
        got = await admitted(request)
        if isinstance(got, JSONResponse):
            return got
        channel, body = got
        try:
            raw = json.loads(body)
        except ValueError:
            return problem(422, "not valid JSON")
        if not isinstance(raw, dict) or not isinstance(raw.get("customer_id"), str):
            return problem(422, "customer_id: field required", "customer_id")
        inner = raw.get("command")
        if not isinstance(inner, dict) or inner.get("type") not in access.CUSTOMER_ACTIONS:
            return problem(
                422, "command.type: must be one of " + ", ".join(access.CUSTOMER_ACTIONS), "command.type"
            )
        with ctx.views() as store:
            view = store.get(case_id)
        if view is None or view.get("customer_id") != raw["customer_id"]:
            return problem(404, f"no case {case_id} for this customer")
        try:
            envelope: CommandEnvelope = forms.envelope(
                case_id, inner, Actor(kind="customer", id=raw["customer_id"])
            )
        except DecodeError as exc:
            return problem(422, exc.reason, exc.field)
        ctx.send(envelope, "gateway")
        log.info("channel %s sent %s for %s", channel, inner["type"], case_id)
        return JSONResponse({"command_id": str(envelope.command_id), "case_id": case_id}, status_code=202)

    @r.post(
        "/cases/{case_id}/link",
        summary="A new link to the customer's page",
        responses={**_AUTH, "404": {"description": "no such case for this customer"}},
    )
    async def link(request: Request, case_id: str) -> JSONResponse:
        got = await admitted(request)
        if isinstance(got, JSONResponse):
            return got
        _, body = got
        try:
            raw = json.loads(body or b"{}")
        except ValueError:
            return problem(422, "not valid JSON")
        with ctx.views() as store:
            view = store.get(case_id)
        if view is None or not isinstance(raw, dict) or view.get("customer_id") != raw.get("customer_id"):
            return problem(404, f"no case {case_id} for this customer")
        return JSONResponse({"case_id": case_id, "customer_link": ctx.customer_link(case_id)})

    return r


def openapi_components() -> dict[str, Any]:
    """The submission's JSON Schema, from the model, for the OpenAPI document."""
    schema = ComplaintSubmission.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {**defs, "ComplaintSubmission": schema}
