"""The two web services' composition roots: `console` (the handler console and the customer's
page) and `gateway` (the channels' API, with its OpenAPI document at /v1/openapi.json)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from services.settings import Settings
from services.web import console, customer, gateway
from services.web.context import HERE, Context

log = logging.getLogger("accord.web")


def console_app(ctx: Context) -> FastAPI:
    app = FastAPI(title="Accord console", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(console.router(ctx))
    app.include_router(customer.router(ctx))

    @app.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse("/console", status_code=303)

    @app.get("/health")
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.middleware("http")
    async def headers(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        # Our own script and styles only; no frames; no referrer (the customer's link is in the URL).
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    return app


def gateway_app(ctx: Context) -> FastAPI:
    app = FastAPI(
        title="Accord gateway",
        version="1",
        description=(
            "The channels' front door: submit complaints (personal data sealed at the edge) and "
            "send customers' commands. Authenticate with the channel's API key: "
            "`Authorization: Bearer <key>` (or `X-API-Key`)."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url="/v1/openapi.json",
    )
    app.include_router(gateway.router(ctx))

    @app.get("/health")
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = original()
            doc.setdefault("components", {}).setdefault("schemas", {}).update(gateway.openapi_components())
            doc["components"]["securitySchemes"] = {"apiKey": {"type": "http", "scheme": "bearer"}}
            doc["security"] = [{"apiKey": []}]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The gateway's OpenAPI document, without opening any store (routes are only declared)."""
    from types import SimpleNamespace

    return gateway_app(SimpleNamespace(settings=settings)).openapi()  # type: ignore[arg-type]


def run(settings: Settings, which: str) -> int:
    """Serve `console` or `gateway` until SIGTERM/SIGINT (uvicorn handles both)."""
    import uvicorn

    port = settings.console_port if which == "console" else settings.gateway_port
    if not port:
        log.warning("%s: port 0, nothing to serve", which)
        return 0
    ctx = Context(settings)
    app = console_app(ctx) if which == "console" else gateway_app(ctx)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.bind_host,
            port=port,
            log_level="warning",
            access_log=False,
            server_header=False,
        )
    )
    log.info("%s on http://127.0.0.1:%d/", which, port)
    try:
        server.run()
    finally:
        ctx.close()
    return 0 if server.started else 1
