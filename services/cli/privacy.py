"""`accord privacy`: show what is held of a customer, or forget them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from services.cli.output import say
from services.settings import Settings


def cmd_privacy(args: argparse.Namespace, settings: Settings) -> int:
    from services import privacy

    keys = privacy.KeyStore(settings)
    if args.action == "forget":
        done = keys.forget(args.customer, reason=args.reason)
        if not done.first:
            say(f"customer {done.customer_id} was forgotten already on {done.at.isoformat()}: {done.reason}")
            return 0
        say(
            f"forgot customer {done.customer_id} at {done.at.isoformat()}: {done.keys} key(s) destroyed. "
            "Their cases keep their full history (hashes, order, facts); their personal data "
            "can no longer be read anywhere."
        )
        return 0
    rows = privacy.held(settings, args.customer)
    forgotten = keys.forgotten(args.customer)
    if args.json:
        say(json.dumps({"customer_id": args.customer, "forgotten_at": forgotten, "cases": rows}, default=str))
        return 0
    if forgotten:
        say(f"customer {args.customer}: forgotten on {forgotten.isoformat()}")
    if not rows:
        say(f"customer {args.customer}: no personal data registered with any case")
    for row in rows:
        held = row["personal"]
        shown = ", ".join(f"{k}={v}" for k, v in held.items()) if held else "erased (key destroyed)"
        note = "  [IN THE CLEAR: registered before sealing]" if row.get("plaintext") else ""
        say(f"  {row['case_id']}  {row['registered_at'].isoformat()}  {shown}{note}")
    return 0


def add_privacy(sub: Any) -> None:
    p = sub.add_parser("privacy", help="personal data: show what is held of a customer, or forget them")
    p.add_argument("action", choices=["show", "forget"])
    p.add_argument("customer", help="the customer id")
    p.add_argument("--reason", default="erasure request", help="forget: why (kept in the erasure register)")
    p.add_argument("--json", action="store_true", help="show: as JSON")
    p.set_defaults(run=cmd_privacy)
