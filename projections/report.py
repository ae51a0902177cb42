"""Satisfaction and performance figures, computed from case views alone (a projection of the
case projection): CSAT, NPS, times to first contact and resolution, on-time and extension
rates, reopen, escalation and dispute rates, plan acceptance by plan type, first-contact
resolution, redress — overall and by channel, category, branch, handler, plan type, day, week."""

from __future__ import annotations

import csv
import html
import io
import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from projections.case_state import View

DIMENSIONS: dict[str, Callable[[View], str | None]] = {
    "overall": lambda v: "all",
    "channel": lambda v: v["channel"],
    "category": lambda v: v["category"],
    "product": lambda v: v["product"],
    "branch": lambda v: v["branch_id"],
    "handler": lambda v: v["handler"],
    "plan_type": lambda v: (v["plan"] or {}).get("kind"),
    "day": lambda v: (v["opened_at"] or "")[:10] or None,
    "week": lambda v: _week(v["opened_at"]),
}


def _week(iso: str | None) -> str | None:
    if not iso:
        return None
    year, week, _ = datetime.fromisoformat(iso.replace("Z", "+00:00")).isocalendar()
    return f"{year}-W{week:02d}"


def _hours(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    a = datetime.fromisoformat(start.replace("Z", "+00:00"))
    b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    return (b - a).total_seconds() / 3600


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def figures(views: Iterable[View]) -> dict[str, Any]:
    """The figures for one group of cases."""
    views = list(views)
    csat = [v["csat"] for v in views if v["csat"] is not None]
    nps = [v["nps"] for v in views if v["nps"] is not None]
    first = [h for v in views if (h := _hours(v["opened_at"], v["first_contact_at"])) is not None]
    resolution = [h / 24 for v in views if (h := _hours(v["opened_at"], v["closed_at"])) is not None]
    decided = [v for v in views if v["deadline"]["on_time"] is not None or v["deadline"]["breached"]]
    on_time = sum(1 for v in decided if v["deadline"]["on_time"])
    offers: dict[str, int] = defaultdict(int)
    accepted: dict[str, int] = defaultdict(int)
    for v in views:
        for kind, n in v["offers"].items():
            offers[kind] += n
        for kind, n in v["accepted"].items():
            accepted[kind] += n
    closed = [v for v in views if v["status"] == "closed"]
    answered = [v for v in views if v["csat"] is not None]
    return {
        "cases": len(views),
        "open": len(views) - len(closed),
        "closed": len(closed),
        "csat_avg": round(statistics.fmean(csat), 3) if csat else None,
        "csat_distribution": {str(k): csat.count(k) for k in range(1, 6)},
        "nps": round(100 * (sum(1 for n in nps if n >= 9) - sum(1 for n in nps if n <= 6)) / len(nps), 1)
        if nps
        else None,
        "first_contact_hours_p50": _pct(first, 50),
        "first_contact_hours_p90": _pct(first, 90),
        "resolution_days_p50": _pct(resolution, 50),
        "resolution_days_p90": _pct(resolution, 90),
        "decided": len(decided),
        "on_time_rate": _rate(on_time, len(decided)),
        "extension_rate": _rate(sum(1 for v in views if v["deadline"]["extended"]), len(views)),
        "reopen_rate": _rate(sum(1 for v in views if v["reopened"]), len(views)),
        "escalation_rate": _rate(sum(1 for v in views if v["escalated"]), len(views)),
        "dispute_rate": _rate(sum(1 for v in answered if v["escalated"]), len(answered)),
        "acceptance_by_plan_type": {k: _rate(accepted[k], offers[k]) for k in sorted(offers)},
        "first_contact_resolution": _rate(
            sum(1 for v in closed if v["contact_attempts"] == 1 and v["rounds"] == 1), len(closed)
        ),
        "redress_total": str(sum((Decimal(v["redress"]) for v in views), Decimal("0.00"))),
    }


def compute(views: Iterable[View], by: Iterable[str] = ("overall", "channel", "category")) -> dict[str, Any]:
    views = list(views)
    out: dict[str, Any] = {}
    for dimension in by:
        key = DIMENSIONS[dimension]
        groups: dict[str, list[View]] = defaultdict(list)
        for v in views:
            groups[key(v) or "(none)"].append(v)
        out[dimension] = {name: figures(group) for name, group in sorted(groups.items())}
    return out


COLUMNS = [
    "cases",
    "open",
    "closed",
    "csat_avg",
    "nps",
    "on_time_rate",
    "extension_rate",
    "reopen_rate",
    "escalation_rate",
    "dispute_rate",
    "first_contact_hours_p50",
    "resolution_days_p50",
    "resolution_days_p90",
    "first_contact_resolution",
    "redress_total",
]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def table(report: dict[str, Any]) -> str:
    lines = []
    for dimension, groups in report.items():
        rows = [[name, *(_cell(f[c]) for c in COLUMNS)] for name, f in groups.items()]
        header = [dimension, *COLUMNS]
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
        lines.append("")
    return "\n".join(lines)


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["dimension", "group", *COLUMNS, "acceptance_by_plan_type", "csat_distribution"])
    for dimension, groups in report.items():
        for name, f in groups.items():
            writer.writerow(
                [
                    dimension,
                    name,
                    *(f[c] if f[c] is not None else "" for c in COLUMNS),
                    json.dumps(f["acceptance_by_plan_type"]),
                    json.dumps(f["csat_distribution"]),
                ]
            )
    return out.getvalue()


def _bars(title: str, data: dict[str, float | None], unit: str = "") -> str:
    items = [(k, v) for k, v in data.items() if v is not None]
    if not items:
        return ""
    top = max(v for _, v in items) or 1
    rows = []
    for i, (name, value) in enumerate(items):
        width = 360 * value / top
        y = 24 + i * 22
        rows.append(
            f'<text x="0" y="{y + 13}" font-size="12">{html.escape(str(name))[:28]}</text>'
            f'<rect x="190" y="{y}" width="{width:.1f}" height="16" fill="#2f6f9f"/>'
            f'<text x="{195 + width:.1f}" y="{y + 13}" font-size="12">{_cell(value)}{unit}</text>'
        )
    height = 30 + 22 * len(items)
    return (
        f'<figure><figcaption>{html.escape(title)}</figcaption><svg width="640" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg></figure>'
    )


def to_html(report: dict[str, Any], title: str = "Accord — satisfaction and performance") -> str:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px}figure{margin:1em 0}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
    ]
    overall = report.get("overall", {}).get("all")
    if overall:
        parts.append(
            _bars("CSAT distribution (cases)", {k: float(v) for k, v in overall["csat_distribution"].items()})
        )
        parts.append(_bars("Plan acceptance rate by plan type", overall["acceptance_by_plan_type"]))
    for dimension, groups in report.items():
        parts.append(f"<h2>{'Overall' if dimension == 'overall' else 'By ' + html.escape(dimension)}</h2>")
        if dimension != "overall":
            parts.append(_bars(f"Cases by {dimension}", {k: float(f["cases"]) for k, f in groups.items()}))
            parts.append(
                _bars(f"On-time rate by {dimension}", {k: f["on_time_rate"] for k, f in groups.items()})
            )
        parts.append(
            "<div style='overflow-x:auto'><table><tr><th>"
            + "</th><th>".join([dimension, *COLUMNS])
            + "</th></tr>"
        )
        for name, f in groups.items():
            cells = [html.escape(str(name)), *(html.escape(_cell(f[c])) for c in COLUMNS)]
            parts.append("<tr><td>" + "</td><td>".join(cells) + "</td></tr>")
        parts.append("</table></div>")
    parts.append("</body></html>")
    return "\n".join(parts)
