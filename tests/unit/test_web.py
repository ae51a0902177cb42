"""The console's, customer page's and gateway's parts without a broker: links, accounts,
authorization, forms drawn from the command models, translations, the rate limit, and the
published OpenAPI document."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from events.commands import RecordFacts
from services.settings import Settings
from services.web import access, forms, i18n
from services.web.accounts import Accounts, Staff
from services.web.gateway import RateLimit
from services.web.tokens import Links, TokenError, signing_key

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _stored(data_dir: Path) -> bytes:
    """Every byte of the console's store, its write-ahead log included."""
    return b"".join(p.read_bytes() for p in data_dir.glob("console.db*"))


def test_a_link_opens_its_case_until_it_expires(tmp_path) -> None:
    links = Links(signing_key(tmp_path), days=30)
    token = links.issue("C0123456789ABCDE", now=NOW)
    assert links.check(token, now=NOW + timedelta(days=29))[0] == "C0123456789ABCDE"
    with pytest.raises(TokenError, match="expired"):
        links.check(token, now=NOW + timedelta(days=31))
    assert links.case_of_expired(token) == "C0123456789ABCDE"


def test_an_altered_link_is_refused(tmp_path) -> None:
    links = Links(signing_key(tmp_path))
    case, expiry, signature = links.issue("C0123456789ABCDE", now=NOW).split(".")
    for bad in (
        f"C0123456789ABCDF.{expiry}.{signature}",
        f"{case}.{int(expiry) + 1}.{signature}",
        f"{case}.{expiry}.{signature[:-1]}{'B' if signature[-1] == 'A' else 'A'}",
        f"{case}.{expiry}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}",
        f"{case}.{expiry}",
        "",
    ):
        with pytest.raises(TokenError):
            links.check(bad, now=NOW)
        assert links.case_of_expired(bad) is None
    other = Links(signing_key(tmp_path / "elsewhere"))
    with pytest.raises(TokenError, match="altered"):
        other.check(f"{case}.{expiry}.{signature}", now=NOW)


def test_the_link_key_is_made_once_and_kept_private(tmp_path) -> None:
    first = signing_key(tmp_path)
    assert signing_key(tmp_path) == first and len(first) == 32
    assert (tmp_path / "link.key").stat().st_mode & 0o077 == 0


def test_passwords_are_argon2_hashes_and_wrong_ones_lock_the_account(tmp_path) -> None:
    accounts = Accounts(tmp_path, lockout_attempts=3, lockout_minutes=15)
    accounts.add_staff("H-001", "handler", "retail", "correct horse battery")
    raw = _stored(tmp_path)
    assert b"correct horse battery" not in raw and b"$argon2id$" in raw
    assert accounts.authenticate("H-001", "correct horse battery")[1] == "ok"
    assert [accounts.authenticate("H-001", "nope")[1] for _ in range(3)] == [
        "wrong-password",
        "wrong-password",
        "locked-now",
    ]
    assert accounts.authenticate("H-001", "correct horse battery") == (None, "locked")
    assert accounts.authenticate("nobody", "x") == (None, "unknown")
    with pytest.raises(ValueError, match="10 characters"):
        accounts.add_staff("H-002", "handler", "retail", "short")


def test_api_keys_and_sessions_are_kept_only_as_digests(tmp_path) -> None:
    accounts = Accounts(tmp_path)
    key = accounts.add_api_key("app")
    staff = accounts.add_staff("H-001", "handler", "retail", "correct horse battery")
    token = accounts.open_session(staff, minutes=5)
    raw = _stored(tmp_path)
    assert key.encode() not in raw and token.encode() not in raw
    assert accounts.channel_for(key)[0] == "app" and accounts.channel_for(key + "x") is None
    assert accounts.session(token).staff.staff_id == "H-001"
    assert accounts.revoke_api_keys("app") == 1 and accounts.channel_for(key) is None
    accounts.close_session(token)
    assert accounts.session(token) is None


def test_handlers_act_on_their_own_or_their_teams_cases_and_only_supervisors_approve() -> None:
    view = {"handler": "H-001", "team": "retail"}
    handler, colleague = Staff("H-001", "handler", "retail", "en"), Staff("H-002", "handler", "retail", "en")
    stranger, auditor = Staff("H-003", "handler", "cards", "en"), Staff("A-1", "auditor", "retail", "en")
    supervisor = Staff("S-1", "supervisor", "retail", "en")
    assert access.may(handler, "RecordFacts", view) and access.may(colleague, "RecordFacts", view)
    assert not access.may(stranger, "RecordFacts", view) and not access.may(auditor, "RecordFacts", view)
    assert not access.may(handler, "ApprovePlan", view) and access.may(supervisor, "ApprovePlan", view)
    assert not access.may(Staff("S-2", "supervisor", "cards", "en"), "ApprovePlan", view)
    assert access.may(Staff("S-3", "supervisor", "*", "en"), "ApprovePlan", view)


def test_the_facts_form_follows_the_command_model() -> None:
    names = {f.name: f.kind for f in forms.fields_of(RecordFacts)}
    assert names["summary"] == "textarea" and names["monthly_capacity"] == "money"
    assert names["willing_to_repay"] == "bool"
    body = forms.body_from_form(
        RecordFacts, {"summary": "short of cash", "monthly_capacity": "1200.50", "willing_to_repay": "true"}
    )
    assert body == {
        "type": "RecordFacts",
        "summary": "short of cash",
        "monthly_capacity": {"amount": "1200.50"},
        "willing_to_repay": True,
    }


def test_every_word_has_a_chinese_translation() -> None:
    assert set(i18n.ZH) == set(i18n.EN)
    assert set(i18n.EVENTS_ZH) == set(i18n.EVENTS_EN)
    assert set(i18n.STATUS_ZH) == set(i18n.STATUS_EN)
    assert i18n.event_words("zh-CN", "PlanOffered", {"plan_id": "P1"}) == "已向客户提供方案P1。"


def test_the_rate_limit_refuses_past_its_budget_per_key() -> None:
    limit = RateLimit(per_minute=3)
    assert [limit.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("a") > 0 and limit.take("b") == 0.0


def test_the_published_openapi_document_matches_the_gateway() -> None:
    from services.web.app import openapi_document

    published = json.loads((ROOT / "docs" / "gateway.openapi.json").read_text())
    assert openapi_document(Settings.from_env({})) == published, (
        "run `accord gateway openapi --out docs/gateway.openapi.json`"
    )


def test_nested_command_fields_become_dotted_form_fields() -> None:
    from events.commands import SetContactPreference

    names = [f.name for f in forms.fields_of(SetContactPreference)]
    assert names[0] == "preference.method" and "preference.window.start" in names
    body = forms.body_from_form(
        SetContactPreference, {"preference.method": "sms", "preference.window.start": "18:00"}
    )
    assert body["preference"] == {"method": "sms", "window": {"start": "18:00"}}


def test_the_queue_marks_breached_warned_and_paused_clocks() -> None:
    from services.web.casefile import clock_mark, human_left, time_left

    def view(**deadline: object) -> dict:
        return {"deadline": {"due_at": "2026-03-02T09:00:00Z", "met_at": None, "warnings": 0, **deadline}}

    assert time_left(view(), NOW) == 86400 and human_left(86400 + 7200) == "1d 2h"
    assert clock_mark(view(), 86400) == "" and clock_mark(view(warnings=1), 3600) == "warned"
    assert clock_mark(view(breached=True), -5) == "breached" and clock_mark(view(), -1) == "breached"
    assert clock_mark(view(status="paused"), 3600) == "paused"


class _Sent:
    def __init__(self) -> None:
        self.commands: list = []

    def send(self, topic: str, key: bytes, value: bytes, headers: list) -> _Sent:
        self.commands.append((topic, key, value))
        return self

    def get(self, timeout: float) -> None:
        return None

    def close(self, timeout: float = 0) -> None:
        return None


def test_the_customer_page_of_a_case_not_yet_projected_says_it_was_received(tmp_path) -> None:
    from fastapi.testclient import TestClient

    from services.web.app import console_app
    from services.web.context import Context

    ctx = Context(Settings.from_env({"ACCORD_DATA_DIR": str(tmp_path)}), producer=_Sent())
    client = TestClient(console_app(ctx))
    page = client.get(f"/c/{ctx.links.issue('C0123456789ABCDE')}?lang=en")
    assert page.status_code == 200 and "We have received your complaint" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/c/C0123456789ABCDE.1.xyz").status_code == 403


def test_signing_in_needs_the_forms_token_and_opens_a_session(tmp_path) -> None:
    import re

    from fastapi.testclient import TestClient

    from services.web.app import console_app
    from services.web.context import Context

    ctx = Context(Settings.from_env({"ACCORD_DATA_DIR": str(tmp_path)}), producer=_Sent())
    ctx.accounts.add_staff("H-001", "handler", "retail", "correct horse battery")
    client = TestClient(console_app(ctx))
    form = {"staff_id": "H-001", "password": "correct horse battery"}
    assert client.post("/console/login", data=form, follow_redirects=False).status_code == 403
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").text).group(1)
    reply = client.post("/console/login", data={**form, "csrf": token}, follow_redirects=False)
    assert reply.status_code == 303 and "accord_session" in reply.cookies
    assert "H-001" in client.get("/console").text


def test_the_case_page_names_the_facts_planning_is_waiting_for(tmp_path) -> None:
    import json
    import re

    from fastapi.testclient import TestClient

    from events.base import Actor
    from events.commands import RecordContactAttempt, RecordFacts
    from projections import case_state
    from projections.store import ViewStore
    from services.web.app import console_app
    from services.web.context import Context
    from tests.bus import Bus

    bus = Bus(tmp_path / "bus")
    body = {
        "submission_id": "wait-1",
        "channel": "app",
        "submitted_at": "2026-03-02T08:00:00Z",
        "customer_id": "WAIT-1",
        "product": "Credit card",
        "subject": "Cannot repay my card",
        "description": "lost my job",
    }
    bus.submit(body)
    (case,) = {e.case_id for e in bus.events()}
    handler = next(e.event.handler_id for e in bus.events(case) if e.event.type == "CaseAssigned")
    team = next(e.event.team for e in bus.events(case) if e.event.type == "CaseAssigned")
    staff = Actor(kind="staff", id=handler)
    bus.act(case, RecordContactAttempt(method="phone", outcome="reached"), staff)
    bus.act(case, RecordFacts(summary="lost the job in March"), staff)
    assert "FactsRequested" in bus.types(case)
    view = None
    for envelope in sorted(bus.events(case), key=case_state.sort_key):
        view = case_state.apply(view, envelope)
    assert view is not None
    settings = Settings.from_env({"ACCORD_DATA_DIR": str(tmp_path / "web")})
    store = ViewStore.open(settings.data_dir)
    store.save({case: json.loads(json.dumps(view, default=str))}, {})
    store.close()

    ctx = Context(settings, producer=_Sent())
    ctx.accounts.add_staff(handler, "handler", team, "correct horse battery")
    client = TestClient(console_app(ctx))
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").text).group(1)
    client.post(
        "/console/login", data={"staff_id": handler, "password": "correct horse battery", "csrf": token}
    )
    page = client.get(f"/console/cases/{case}").text
    assert 'id="awaiting-facts"' in page and "ledger.balance" in page
