"""`accord audit`: timeline, as-of, replay, verify and export, from the history alone."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from services.cli.output import say
from services.settings import Settings


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from services import audit

    if args.action == "timeline":
        rows = audit.timeline(settings, args.target)
        if not rows:
            say(f"no events for case {args.target}")
            return 1
        if args.format == "json":
            say(json.dumps(rows, indent=2, ensure_ascii=False))
        elif args.format == "csv":
            sys.stdout.write(audit.to_csv(rows))
        else:
            for r in rows:
                say(
                    f"{r['occurred_at'][:23]:23} {r['step']:10} #{r['sequence']:<3} {r['type']:22} "
                    f"{r['actor']:22} {r['position']:28} caused by {r['caused_by'] or '-'}"
                )
        return 0
    if args.action == "as-of":
        moment = datetime.fromisoformat(args.target.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            say("give the time with its zone, e.g. 2026-03-02T09:00:00Z")
            return 2
        result = audit.as_of(settings, moment, args.case)
        if result is None:
            say(f"case {args.case} had no events by {args.target}")
            return 1
        if args.case:
            result = {k: v for k, v in result.items() if k != "events"}
        say(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    if args.action == "replay":
        from projections import rebuild

        return 0 if rebuild.rebuild(settings, log=say) else 1
    if args.action == "export":
        if not (args.start and args.end and args.out):
            say("give --from, --to and --out")
            return 2
        start = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
        end = datetime.fromisoformat(args.end.replace("Z", "+00:00"))
        manifest = audit.export(settings, start, end, args.out)
        say(f"wrote {args.out}: {manifest['events']} events in {manifest['chains']} chains")
        return 0
    if args.bundle:
        verdict = audit.verify_bundle(args.bundle)
        for finding in verdict.findings[:200]:
            say(f"  {finding}")
        say(
            f"bundle {args.bundle}: {verdict.events} events in {verdict.chains} chains: "
            + ("no problem found" if verdict.ok else f"{len(verdict.findings)} PROBLEM(S)")
        )
        return 0 if verdict.ok else 1
    verdict = audit.verify(settings, check_stores=not args.topics_only)
    for finding in verdict.findings[:200]:
        say(f"  {finding}")
    rate = verdict.events / verdict.seconds if verdict.seconds else 0
    say(
        f"verified {verdict.events} events in {verdict.chains} chains"
        + (f" against {verdict.stored} recorded in the steps' stores" if not args.topics_only else "")
        + f" in {verdict.seconds}s ({rate:,.0f} events/s): "
        + ("no problem found" if verdict.ok else f"{len(verdict.findings)} PROBLEM(S)")
    )
    return 0 if verdict.ok else 1


def add_audit(sub: Any) -> None:
    p = sub.add_parser("audit", help="timeline, as-of, replay and verify, from the history alone")
    p.add_argument("action", choices=["timeline", "as-of", "replay", "verify", "export"])
    p.add_argument("target", nargs="?", help="timeline: a case id; as-of: a time with its zone")
    p.add_argument("case", nargs="?", help="as-of: one case (default: the case metrics)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--topics-only", action="store_true", help="verify: skip the steps' stores")
    p.add_argument("--bundle", help="verify: check an exported bundle offline instead")
    p.add_argument("--from", dest="start", help="export: from this time (with its zone)")
    p.add_argument("--to", dest="end", help="export: up to (not including) this time")
    p.add_argument("--out", help="export: the bundle file to write (.zip)")
    p.set_defaults(run=cmd_audit)
