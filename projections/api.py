"""A small read-only HTTP JSON API over the case views:
GET /cases?status=&channel=&category=&overdue=1&limit=, /cases/<id>, /report?by=channel,category,
/health. Nothing here writes."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from projections import report
from projections.case_state import overdue
from projections.readers import Readers
from projections.store import ViewStore


def cases(
    store: ViewStore,
    status: str | None = None,
    channel: str | None = None,
    category: str | None = None,
    only_overdue: bool = False,
    limit: int = 1000,
    sort: str | None = None,
) -> list[dict]:
    """Cases from the views; `sort="risk"`: highest dispute risk first (unscored cases last)."""
    every = only_overdue or sort == "risk"
    found = store.query(
        status=status, channel=channel, category=category, limit=1_000_000 if every else limit
    )
    if only_overdue:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        found = [v for v in found if overdue(v, now)]
    if sort == "risk":
        found.sort(key=lambda v: -(v.get("risk") or {"score": -1})["score"])
    return found[:limit]


def summary(view: dict) -> dict:
    return {
        k: view[k]
        for k in (
            "case_id",
            "status",
            "step",
            "channel",
            "category",
            "complexity",
            "handler",
            "opened_at",
            "closed_at",
            "csat",
        )
    } | {
        "deadline": view["deadline"]["status"],
        "due_at": view["deadline"]["due_at"],
        "plan": (view["plan"] or {}).get("kind"),
        "risk": (view.get("risk") or {}).get("score"),  # set once the case crossed the risk threshold
    }


def handler_for(readers: Readers):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep request lines out of the logs
            pass

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            with readers.lend() as store:
                try:
                    self._answer(url.path, q, store)
                except ValueError as exc:
                    self._send(400, {"error": str(exc)})

        def _answer(self, path: str, q: dict[str, str], store: ViewStore) -> None:
            parts = [p for p in path.split("/") if p]
            if parts == ["health"]:
                self._send(200, {"status": "ok", "cases": store.count()})
            elif parts == ["cases"]:
                found = cases(
                    store,
                    q.get("status"),
                    q.get("channel"),
                    q.get("category"),
                    q.get("overdue") in ("1", "true"),
                    int(q.get("limit", 1000)),
                    q.get("sort"),
                )
                self._send(200, [summary(v) for v in found])
            elif len(parts) == 2 and parts[0] == "cases":
                view = store.get(parts[1])
                self._send(200 if view else 404, view or {"error": f"no case {parts[1]}"})
            elif parts == ["report"]:
                by = (q.get("by") or "overall,channel,category").split(",")
                unknown = [d for d in by if d not in report.DIMENSIONS]
                if unknown:
                    self._send(
                        400,
                        {
                            "error": f"unknown dimension(s) {unknown}",
                            "dimensions": list(report.DIMENSIONS),
                        },
                    )
                else:
                    self._send(200, report.compute(store.all(), by))
            else:
                self._send(404, {"error": "try /cases, /cases/<id>, /report, /health"})

        def do_POST(self) -> None:  # noqa: N802
            self._send(405, {"error": "read-only"})

    return Handler


def serve(readers: Readers, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The API on `port`, answering from the process's view readers (opened once, not per request)."""
    server = ThreadingHTTPServer((host, port), handler_for(readers))
    threading.Thread(target=server.serve_forever, daemon=True, name="accord-api").start()
    return server
