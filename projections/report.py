"""Satisfaction and performance figures, computed from case views alone (a projection of the
case projection): CSAT, NPS, times to first contact and resolution, on-time and extension
rates, reopen, escalation and dispute rates, plan acceptance by plan type, first-contact
resolution, redress — overall and by channel, category, branch, handler, plan type, plan (type and
category: plan effectiveness), day, week. By handler each figure is set against the team's
median, and the handlers whose figures suggest coaching are named (staff development)."""

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
    "plan": lambda v: f"{v['plan']['kind']}/{v['category']}" if v["plan"] else None,
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


# A plan that was accepted: its round is the round it took to agree.
AGREED = ("accepted", "executing", "completed", "defaulted")


def _first_contact_on_time(v: View) -> bool | None:
    d = v["first_contact_deadline"]
    if d["breached"]:
        return False
    if d["met_at"] is None or d["due_at"] is None:
        return None
    return bool(d["met_at"] <= d["due_at"])


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
    agreed = [v["plan"]["round"] for v in views if v["plan"] and v["plan"]["status"] in AGREED]
    repayments = [
        v
        for v in views
        if v["plan"]
        and v["plan"]["kind"] == "repayment_restructuring"
        and v["plan"]["status"] in ("executing", "completed", "defaulted")
    ]
    contact = [on for v in views if (on := _first_contact_on_time(v)) is not None]
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
        "acceptance_rate": _rate(sum(accepted.values()), sum(offers.values())),
        "rounds_to_acceptance_avg": round(statistics.fmean(agreed), 3) if agreed else None,
        "repayment_default_rate": _rate(
            sum(1 for v in repayments if v["plan"]["status"] == "defaulted"), len(repayments)
        ),
        "first_contact_on_time_rate": _rate(sum(contact), len(contact)),
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
        if dimension == "handler":
            coaching(out[dimension], groups)
    return out


# Staff development: a handler with at least COACHING_MIN_CASES cases whose figure is worse than
# the team's median (over the handlers with that many cases) by more than the margin is named for
# coaching, with the figures that say so.
# A rule for where to look first, not a verdict on a person.
COACHING_MIN_CASES = 5
COACHING = {  # figure: (higher is better?, margin)
    "first_contact_on_time_rate": (True, 0.10),
    "on_time_rate": (True, 0.10),
    "acceptance_rate": (True, 0.10),
    "csat_avg": (True, 0.5),
    "reopen_rate": (False, 0.10),
}


def coaching(by_handler: dict[str, dict[str, Any]], groups: dict[str, list[View]]) -> None:
    """Adds each handler's team, the team's median of each figure, and the coaching notes."""
    teams: dict[str, list[str]] = defaultdict(list)
    for name, views in groups.items():
        team = statistics.mode([v["team"] or "(none)" for v in views])
        by_handler[name]["team"] = team
        teams[team].append(name)
    for members in teams.values():
        medians: dict[str, float | None] = {}
        for key in COACHING:
            values = [
                by_handler[n][key]
                for n in members
                if by_handler[n][key] is not None and by_handler[n]["cases"] >= COACHING_MIN_CASES
            ]
            medians[key] = round(statistics.median(values), 4) if values else None
        for name in members:
            f = by_handler[name]
            f["team_median"] = medians
            notes = []
            for key, (higher, margin) in COACHING.items():
                mine, median = f[key], medians[key]
                if f["cases"] < COACHING_MIN_CASES or mine is None or median is None or name == "(none)":
                    continue
                gap = (median - mine) if higher else (mine - median)
                if gap > margin:
                    notes.append(f"{key} {_cell(mine)} vs team median {_cell(median)}")
            f["coaching"] = notes


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
    "acceptance_rate",
    "rounds_to_acceptance_avg",
    "repayment_default_rate",
    "first_contact_on_time_rate",
]
# Columns only some dimensions have.
EXTRA_COLUMNS = {"handler": ["team", "coaching"]}


def _columns(dimension: str) -> list[str]:
    return COLUMNS + EXTRA_COLUMNS.get(dimension, [])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "; ".join(str(x) for x in value) or "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def table(report: dict[str, Any]) -> str:
    lines = []
    for dimension, groups in report.items():
        rows = [[name, *(_cell(f[c]) for c in _columns(dimension))] for name, f in groups.items()]
        header = [dimension, *_columns(dimension)]
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
        lines.append("")
    return "\n".join(lines)


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    extra = [c for d in report for c in EXTRA_COLUMNS.get(d, [])]
    writer.writerow(["dimension", "group", *COLUMNS, "acceptance_by_plan_type", "csat_distribution", *extra])
    for dimension, groups in report.items():
        for name, f in groups.items():
            writer.writerow(
                [
                    dimension,
                    name,
                    *(f[c] if f[c] is not None else "" for c in COLUMNS),
                    json.dumps(f["acceptance_by_plan_type"]),
                    json.dumps(f["csat_distribution"]),
                    *(_cell(f[c]) if c in f else "" for c in extra),
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
        if dimension in ("plan", "plan_type"):
            parts.append(
                _bars(
                    f"Offer acceptance rate by {dimension}",
                    {k: f["acceptance_rate"] for k, f in groups.items()},
                )
            )
        if dimension == "handler":
            parts.append(
                _bars("Acceptance rate by handler", {k: f["acceptance_rate"] for k, f in groups.items()})
            )
            flagged = [(k, f["coaching"]) for k, f in groups.items() if f.get("coaching")]
            parts.append("<h3>Coaching suggested</h3><ul>")
            parts += [f"<li>{html.escape(k)}: {html.escape('; '.join(notes))}</li>" for k, notes in flagged]
            parts.append("</ul>" if flagged else "<li>none</li></ul>")
        parts.append(
            "<div style='overflow-x:auto'><table><tr><th>"
            + "</th><th>".join([dimension, *_columns(dimension)])
            + "</th></tr>"
        )
        for name, f in groups.items():
            cells = [html.escape(str(name)), *(html.escape(_cell(f[c])) for c in _columns(dimension))]
            parts.append("<tr><td>" + "</td><td>".join(cells) + "</td></tr>")
        parts.append("</table></div>")
    parts.append("</body></html>")
    return "\n".join(parts)
