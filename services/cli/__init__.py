"""The `accord` command: broker, topics, the step services, complaints and commands, catalogue.
Every subcommand reads the one settings object; errors print a reason and exit non-zero."""

from __future__ import annotations

import argparse

from services.cli import audit, broker, cases, catalogue, demo, insights, privacy, run, views, web
from services.cli.output import say
from services.settings import Settings

# Each group adds its own subcommands; this is the order `accord --help` lists them in.
COMMANDS = (
    broker.add_broker,
    broker.add_topics,
    catalogue.add_catalogue,
    catalogue.add_deploy,
    cases.add_submit,
    run.add_run,
    web.add_staff,
    web.add_gateway,
    web.add_link,
    run.add_up,
    run.add_down,
    run.add_status,
    cases.add_act,
    views.add_case,
    views.add_cases,
    views.add_report,
    insights.add_insights,
    views.add_projections,
    demo.add_simulate,
    audit.add_audit,
    privacy.add_privacy,
    cases.add_reference,
    demo.add_demo,
)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="accord", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from pydantic import ValidationError

    from services.broker import BrokerError

    try:
        settings = Settings.from_env()
    except ValidationError as exc:
        say(f"accord: invalid settings: {exc.errors(include_input=False)}")
        return 2
    try:
        return int(args.run(args, settings) or 0)
    except BrokerError as exc:
        say(f"accord: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence prints a reason
        from kafka.errors import KafkaError

        if isinstance(exc, KafkaError):
            say(f"accord: Kafka error: {exc!r} (is the broker running? `accord broker status`)")
            return 1
        raise
