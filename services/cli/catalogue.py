"""`accord catalogue` and `accord deploy k8s`: write or check the generated files (the event
catalogue and what derives from the step registry; the Kubernetes manifests)."""

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


def cmd_deploy(args: argparse.Namespace, settings: Settings) -> int:
    from services import k8s

    if args.action == "write":
        for path in k8s.write():
            say(f"wrote {path.relative_to(k8s.ROOT)}")
        return 0
    stale = k8s.stale()
    for path in stale:
        say(f"out of date: {path.relative_to(k8s.ROOT)}")
    if stale:
        say("run `accord deploy k8s write` and commit the result")
    from services.k8s import validate  # needs the dev extra (kubernetes-validate)

    problems = validate.validate_all()
    for problem in problems:
        say(f"invalid: {problem}")
    return 1 if stale or problems else 0


def add_deploy(sub: Any) -> None:
    p = sub.add_parser("deploy", help="the generated Kubernetes manifests (deploy/k8s/, docs/deploy.md)")
    p.add_argument("target", choices=["k8s"])
    p.add_argument("action", choices=["write", "check"])
    p.set_defaults(run=cmd_deploy)
