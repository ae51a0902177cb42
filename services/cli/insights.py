"""`accord insights train`: fit the dispute-risk model on the CFPB sample."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from services.cli.output import say
from services.settings import Settings


def cmd_insights(args: argparse.Namespace, settings: Settings) -> int:
    from services.insights import train

    model = train.train(Path(args.cfpb), seed=args.seed)
    for line in train.summary(model):
        say(line)
    if args.out:
        train.write(model, Path(args.out))
        say(f"wrote {args.out}")
    return 0


def add_insights(sub: Any) -> None:
    p = sub.add_parser("insights", help="fit the dispute-risk model on the CFPB sample")
    p.add_argument("action", choices=["train"])
    p.add_argument("--cfpb", required=True, help="path to cfpb_sample.csv")
    p.add_argument("--seed", type=int, default=20130722, help="seeds the bootstrap of the metrics")
    p.add_argument("--out", help="write the rules table here (services/rules/risk_model.json to deploy it)")
    p.set_defaults(run=cmd_insights)
