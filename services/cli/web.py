"""`accord staff`, `accord gateway`, `accord link`: accounts, API keys and links of the console,
the customer's page and the channels' gateway (services/web/)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from services.cli.output import say
from services.settings import Settings


def cmd_staff(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from services.web.accounts import Accounts

    accounts = Accounts(settings.data_dir)
    try:
        if args.action == "list":
            for staff in accounts.all_staff():
                say(f"{staff.staff_id:12} {staff.role:10} team {staff.team:10} {staff.language}")
            return 0
        if not args.id or not args.role or not args.team:
            say("staff add needs ID, --role and --team")
            return 2
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {args.id}: ")
        try:
            staff = accounts.add_staff(args.id, args.role, args.team, password, args.lang)
        except ValueError as exc:
            say(f"not added: {exc}")
            return 2
        say(f"staff {staff.staff_id}: {staff.role}, team {staff.team}, {staff.language}")
        return 0
    finally:
        accounts.close()


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    from services.web.accounts import Accounts

    if args.action == "openapi":
        from services.web.app import openapi_document

        text = json.dumps(openapi_document(settings), indent=2, ensure_ascii=False) + "\n"
        if args.out:
            Path(args.out).write_text(text)
            say(f"wrote {args.out}")
        else:
            sys.stdout.write(text)
        return 0
    if not args.channel:
        say(f"gateway {args.action} needs a CHANNEL")
        return 2
    accounts = Accounts(settings.data_dir)
    try:
        if args.action == "key":
            say(accounts.add_api_key(args.channel))  # shown once: only its digest is kept
        else:
            say(f"revoked {accounts.revoke_api_keys(args.channel)} key(s) of {args.channel}")
        return 0
    finally:
        accounts.close()


def cmd_link(args: argparse.Namespace, settings: Settings) -> int:
    from services.web.tokens import Links, signing_key

    links = Links(signing_key(settings.data_dir), settings.customer_link_days)
    token = links.issue(args.case, days=args.days)
    say(f"{settings.public_url.rstrip('/')}/c/{token}")
    return 0


def add_staff(sub: Any) -> None:
    p = sub.add_parser("staff", help="console accounts: add (or reset) a staff member, list them")
    p.add_argument("action", choices=["add", "list"])
    p.add_argument("id", nargs="?")
    p.add_argument("--role", choices=["handler", "supervisor", "auditor"])
    p.add_argument("--team", help="the team whose cases they work (supervisors: * for every team)")
    p.add_argument("--lang", default="en", choices=["en", "zh-CN"])
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(run=cmd_staff)


def add_gateway(sub: Any) -> None:
    p = sub.add_parser("gateway", help="channels' API keys, and the gateway's OpenAPI document")
    p.add_argument("action", choices=["key", "revoke", "openapi"])
    p.add_argument("channel", nargs="?", choices=["hotline", "branch", "app"])
    p.add_argument("--out", help="openapi: write to this file")
    p.set_defaults(run=cmd_gateway)


def add_link(sub: Any) -> None:
    p = sub.add_parser("link", help="a customer's link to their case page")
    p.add_argument("case")
    p.add_argument("--days", type=float, default=None, help="valid this long (ACCORD_CUSTOMER_LINK_DAYS)")
    p.set_defaults(run=cmd_link)
