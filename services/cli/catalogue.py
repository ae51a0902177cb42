"""`accord catalogue`: write or check the generated event catalogue."""

from __future__ import annotations

import argparse
from typing import Any

from services.cli.output import say
from services.settings import Settings


def cmd_catalogue(args: argparse.Namespace, settings: Settings) -> int:
    from events import catalogue
    from services import derived

    if args.action == "write":
        for path in [*catalogue.write(), *derived.write()]:
            say(f"wrote {path.relative_to(catalogue.ROOT)}")
        return 0
    stale = catalogue.stale() + derived.stale()
    for path in stale:
        say(f"out of date: {path.relative_to(catalogue.ROOT)}")
    if stale:
        say("run `accord catalogue write` and commit the result")
    return 1 if stale else 0


def add_catalogue(sub: Any) -> None:
    p = sub.add_parser("catalogue", help="the generated event catalogue")
    p.add_argument("action", choices=["write", "check"])
    p.set_defaults(run=cmd_catalogue)
