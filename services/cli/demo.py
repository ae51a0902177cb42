"""`accord demo` and `accord simulate`: complaints driven through the running services."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from services.cli.output import say
from services.settings import Settings


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from services import demo

    return demo.run(settings, say)


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from services import simulate

    if settings.clock != "message":
        say(
            "note: the services should run with ACCORD_CLOCK=message so decisions are dated in each "
            "complaint's own history (`ACCORD_CLOCK=message accord up`)"
        )
    path = Path(args.cfpb)
    if not path.exists():
        say(f"no such file: {path}")
        return 2
    return 0 if simulate.simulate(settings, path, args.limit, args.timeout, log=say) else 1


def add_demo(sub: Any) -> None:
    p = sub.add_parser("demo", help="drive complaints from all three channels to closed cases")
    p.set_defaults(run=cmd_demo)


def add_simulate(sub: Any) -> None:
    p = sub.add_parser("simulate", help="replay real CFPB complaints and check the report against the CSV")
    p.add_argument("--cfpb", required=True, help="path to cfpb_sample.csv")
    p.add_argument("--limit", type=int, default=None, help="only the first N rows")
    p.add_argument("--timeout", type=float, default=3600)
    p.set_defaults(run=cmd_simulate)
