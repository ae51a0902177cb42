"""`accord case show`, `accord cases`, `accord report`, `accord projections rebuild`: the case
views and the figures computed from them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from services.cli.output import say
from services.settings import Settings


def cmd_case(args: argparse.Namespace, settings: Settings) -> int:
    from projections.store import ViewStore

    store = ViewStore.open(settings.data_dir, settings.database_url)
    try:
        view = store.get(args.case)
    finally:
        store.close()
    if view is None:
        say(f"no case {args.case} in the case views (is `accord run projections` running?)")
        return 1
    if args.json:
        say(json.dumps({k: v for k, v in view.items() if k != "events"}, indent=2, ensure_ascii=False))
        return 0
    d = view["deadline"]
    say(f"case {view['case_id']}  {view['status']}  (last step: {view['step']})")
    say(
        f"  channel {view['channel']}, category {view['category']}, complexity {view['complexity']}, "
        f"priority {view['priority']}"
    )
    say(f"  handler {view['handler']} ({view['team']}), opened {view['opened_at']}")
    say(
        f"  decision due {d['due_at']} [{d['policy']}]: {d['status']}"
        + (f", extended ({d['extended']})" if d["extended"] else "")
    )
    if view.get("awaiting_facts"):
        say("  planning is waiting for:")
        for item in view["awaiting_facts"]:
            say(f"    {item['fact']}: {item['why']}")
    if view["plan"]:
        plan = view["plan"]
        say(f"  plan {plan['plan_id']}: {plan['kind']}, round {plan['round']}, {plan['status']}")
    if view.get("risk"):
        r = view["risk"]
        say(f"  dispute risk {r['score']:.2f} (threshold {r['threshold']:.2f}, model {r['model_version']})")
    if view["csat"] is not None:
        say(f"  satisfaction: CSAT {view['csat']}, NPS {view['nps']}")
    if view["closed_at"]:
        say(f"  closed {view['closed_at']}: {view['outcome']}")
    say("  timeline:")
    for item in view["timeline"]:
        say(f"    {item['at']}  {item['step']:10} {item['type']:22} {item['actor']:22} {item['summary']}")
    return 0


def cmd_cases(args: argparse.Namespace, settings: Settings) -> int:
    from projections import api
    from projections.store import ViewStore

    store = ViewStore.open(settings.data_dir, settings.database_url)
    try:
        found = api.cases(
            store, args.status, args.channel, args.category, args.overdue, args.limit, args.sort
        )
    finally:
        store.close()
    rows = [api.summary(v) for v in found]
    if args.json:
        say(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    say(f"{'case':18} {'status':16} {'channel':8} {'category':26} {'deadline':10} {'due':21} {'risk':6} plan")
    for r in rows:
        risk = f"{r['risk']:.2f}!" if r["risk"] is not None else "-"
        say(
            f"{r['case_id']:18} {r['status']:16} {r['channel'] or '-':8} {r['category'] or '-':26} "
            f"{r['deadline'] or '-':10} {(r['due_at'] or '-')[:19]:21} {risk:6} {r['plan'] or '-'}"
        )
    say(f"{len(rows)} case(s)")
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from projections import report
    from projections.store import ViewStore

    by = args.by.split(",")
    unknown = [d for d in by if d not in report.DIMENSIONS]
    if unknown:
        say(f"unknown dimension(s) {unknown}; choose from {', '.join(report.DIMENSIONS)}")
        return 2
    store = ViewStore.open(settings.data_dir, settings.database_url)
    try:
        figures = report.compute(store.all(), by)
    finally:
        store.close()
    say(report.table(figures))
    for path, render in (
        (args.csv, report.to_csv),
        (args.json, lambda f: json.dumps(f, indent=2)),
        (args.html, report.to_html),
    ):
        if path:
            Path(path).write_text(render(figures), encoding="utf-8")
            say(f"wrote {path}")
    return 0


def cmd_projections(args: argparse.Namespace, settings: Settings) -> int:
    from projections import rebuild

    ok = rebuild.rebuild(settings, replace=args.replace, log=say)
    return 0 if ok else 1


def add_case(sub: Any) -> None:
    p = sub.add_parser("case", help="one case as it stands now (from the case views)")
    p.add_argument("action", choices=["show"])
    p.add_argument("case")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_case)


def add_cases(sub: Any) -> None:
    p = sub.add_parser("cases", help="list cases from the case views")
    p.add_argument("--status")
    p.add_argument("--channel", choices=["hotline", "branch", "app"])
    p.add_argument("--category")
    p.add_argument("--overdue", action="store_true", help="open cases past their decision deadline")
    p.add_argument("--sort", choices=["risk"], help="risk: cases flagged by RiskScored first, highest first")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_cases)


def add_report(sub: Any) -> None:
    p = sub.add_parser("report", help="satisfaction and performance figures")
    p.add_argument(
        "--by",
        default="overall,channel,category",
        help="comma-separated: overall, channel, category, product, branch, handler (with team medians and "
        "coaching), plan_type, plan (type/category: plan effectiveness), day, week",
    )
    p.add_argument("--csv", help="also write CSV to this file")
    p.add_argument("--json", help="also write JSON to this file")
    p.add_argument("--html", help="also write a self-contained HTML report with charts")
    p.set_defaults(run=cmd_report)


def add_projections(sub: Any) -> None:
    p = sub.add_parser("projections", help="rebuild the case views from offset 0")
    p.add_argument("action", choices=["rebuild"])
    p.add_argument("--replace", action="store_true", help="make the rebuilt views the live ones")
    p.set_defaults(run=cmd_projections)
