"""The console's and the customer page's refusals, on the running services: forms without
their CSRF token, another team's case, approvals by anyone but a supervisor, auditors, altered
or expired customer links, and repeated wrong passwords. A refused action is never sent."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from events.topics import COMMANDS
from services import clients
from services.web.tokens import Links, signing_key
from tests.integration.web import sign_in, signed_in, staff, submit, wait_view

PASSWORD = "a long enough password"


def commands_for(running, case_id: str, since: dict) -> list:  # type: ignore[no-untyped-def]
    """Commands published for the case after the offsets in `since`."""
    consumer = clients.consumer(running)
    try:
        parts = list(since)
        consumer.assign(parts)
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        found, deadline = [], time.monotonic() + 3
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=300).values():
                found.extend(r for r in batch if r.key == case_id.encode())
        return found
    finally:
        consumer.close()


def command_offsets(running) -> dict:  # type: ignore[no-untyped-def]
    from kafka import TopicPartition

    consumer = clients.consumer(running)
    try:
        parts = [TopicPartition(COMMANDS.name, p) for p in consumer.partitions_for_topic(COMMANDS.name)]
        return consumer.end_offsets(parts)
    finally:
        consumer.close()


def test_a_form_without_its_csrf_token_is_refused_and_nothing_is_sent(web) -> None:
    run = uuid.uuid4().hex[:8]
    staff(web, f"H-UI-{run}", "handler", f"BR-UI-{run}", PASSWORD)
    case = submit(web, run)["case_id"]
    wait_view(web, case, lambda v: v["handler"] == f"H-UI-{run}")
    # the sign-in form too: without the token it hands out, a right password is refused
    bare = httpx.Client(base_url=f"http://127.0.0.1:{web.console_port}", timeout=30)
    reply = bare.post("/console/login", data={"staff_id": f"H-UI-{run}", "password": PASSWORD})
    assert reply.status_code == 403 and "accord_session" not in reply.cookies
    client, csrf = signed_in(web, f"H-UI-{run}", PASSWORD)
    before = command_offsets(web)
    for form in (
        {"method": "phone", "outcome": "reached"},
        {"method": "phone", "outcome": "reached", "csrf": "x"},
    ):
        reply = client.post(f"/console/cases/{case}/act/RecordContactAttempt", data=form)
        assert reply.status_code == 403 and "stale or forged" in reply.text
    assert commands_for(web, case, before) == []
    # with its token the same form is sent, as the signed-in handler
    reply = client.post(
        f"/console/cases/{case}/act/RecordContactAttempt",
        data={"method": "phone", "outcome": "reached", "csrf": csrf},
    )
    assert reply.status_code == 303
    sent = commands_for(web, case, before)
    assert len(sent) == 1 and b'"actor":{"kind":"staff","id":"H-UI-' in sent[0].value


def test_a_handler_acting_on_another_teams_case_is_refused_and_nothing_is_sent(web) -> None:
    run = uuid.uuid4().hex[:8]
    staff(web, f"H-OT-{run}", "handler", "some-other-team", PASSWORD)
    staff(web, f"AUD-{run}", "auditor", "audit", PASSWORD)
    case = submit(web, run)["case_id"]
    wait_view(web, case, lambda v: v["handler"] == f"H-UI-{run}")
    before = command_offsets(web)
    for who in (f"H-OT-{run}", f"AUD-{run}"):
        client, csrf = signed_in(web, who, PASSWORD)
        page = client.get(f"/console/cases/{case}")
        assert page.status_code == 200 and "form-RecordContactAttempt" not in page.text  # may read, not act
        for action, form in (
            ("RecordContactAttempt", {"method": "phone", "outcome": "reached"}),
            ("PauseClock", {"reason": "outside_appraisal"}),
            ("IssueLink", {}),
        ):
            reply = client.post(f"/console/cases/{case}/act/{action}", data={**form, "csrf": csrf})
            assert reply.status_code == 403 and "Refused" in reply.text, (who, action)
    assert commands_for(web, case, before) == []


def test_only_a_supervisor_approves_a_plan_above_the_limit(web) -> None:
    run = uuid.uuid4().hex[:8]
    team = f"BR-UI-{run}"
    staff(web, f"H-UI-{run}", "handler", team, PASSWORD)
    staff(web, f"SUP-{run}", "supervisor", team, PASSWORD, "zh-CN")
    case = submit(
        web,
        run,
        product="Debit card",
        subject="Annual fee charged twice",
        description="年费被重复扣收。",
        amount_disputed={"amount": "25000.00"},
    )["case_id"]
    wait_view(web, case, lambda v: v["handler"] == f"H-UI-{run}")
    handler, csrf = signed_in(web, f"H-UI-{run}", PASSWORD)
    act = f"/console/cases/{case}/act/"
    assert (
        handler.post(
            act + "RecordContactAttempt", data={"method": "phone", "outcome": "reached", "csrf": csrf}
        ).status_code
        == 303
    )
    wait_view(web, case, lambda v: v["first_contact_at"] is not None)
    assert (
        handler.post(
            act + "RecordFacts", data={"summary": "Charged twice, ledger confirms", "csrf": csrf}
        ).status_code
        == 303
    )
    view = wait_view(web, case, lambda v: v["status"] == "awaiting_approval")
    plan_id = view["plan"]["plan_id"]
    page = handler.get(f"/console/cases/{case}").text
    assert "25000.00" in page and 'id="approve"' not in page  # the handler sees the plan, cannot approve
    assert handler.post(act + "ApprovePlan", data={"plan_id": plan_id, "csrf": csrf}).status_code == 403
    supervisor, csrf = signed_in(web, f"SUP-{run}", PASSWORD)
    page = supervisor.get(f"/console/cases/{case}").text
    assert 'id="approve"' in page and "批准此方案" in page  # in the supervisor's own language
    assert supervisor.post(act + "ApprovePlan", data={"plan_id": plan_id, "csrf": csrf}).status_code == 303
    wait_view(web, case, lambda v: v["status"] == "offered")


def test_a_refused_command_shows_its_reason_on_the_case_page(web) -> None:
    run = uuid.uuid4().hex[:8]
    staff(web, f"H-UI-{run}", "handler", f"BR-UI-{run}", PASSWORD)
    case = submit(web, run)["case_id"]
    wait_view(web, case, lambda v: v["handler"] == f"H-UI-{run}")
    client, csrf = signed_in(web, f"H-UI-{run}", PASSWORD)
    # facts before anyone reached the customer: the contact step refuses
    reply = client.post(f"/console/cases/{case}/act/RecordFacts", data={"summary": "too early", "csrf": csrf})
    assert reply.status_code == 303
    deadline = time.monotonic() + 30
    while '<li class="refused">RecordFacts' not in (page := client.get(f"/console/cases/{case}").text):
        assert time.monotonic() < deadline, page
        time.sleep(0.5)
    assert '<span class="reason">no contact has reached the customer yet' in page


def test_an_expired_or_altered_customer_link_is_refused(web) -> None:
    run = uuid.uuid4().hex[:8]
    answer = submit(web, run)
    case, link = answer["case_id"], answer["customer_link"]
    wait_view(web, case, lambda v: v["status"] != "unknown")
    assert httpx.get(link, timeout=30).status_code == 200
    token = link.rsplit("/", 1)[1]
    base = link.rsplit("/", 1)[0]
    links = Links(signing_key(web.data_dir))
    other = submit(web, uuid.uuid4().hex[:8])["case_id"]
    signature = token.rsplit(".", 1)[1]
    altered = [
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # the signature
        f"{other}.{token.split('.')[1]}.{signature}",  # another case, same signature
        f"{case}.{int(token.split('.')[1]) + 86400}.{signature}",  # a later expiry
        "not-a-token",
    ]
    for bad in altered:
        reply = httpx.get(f"{base}/{bad}?lang=en", timeout=30)
        assert reply.status_code == 403 and "not valid" in reply.text
        assert httpx.post(f"{base}/{bad}/act/AcceptPlan", data={"csrf": "x"}, timeout=30).status_code == 403
    expired = links.issue(case, now=datetime.now(UTC) - timedelta(days=40))
    reply = httpx.get(f"{base}/{expired}?lang=en", timeout=30)
    assert reply.status_code == 403 and "expired" in reply.text and 'id="renew"' in reply.text
    # the customer asks for a new link (with the page's token); the handler sees the request
    assert httpx.post(f"{base}/{expired}/renew?lang=en", timeout=30).status_code == 403
    renew_csrf = re.search(r'name="csrf" value="([^"]+)"', reply.text).group(1)  # type: ignore[union-attr]
    renewed = httpx.post(f"{base}/{expired}/renew?lang=en", data={"csrf": renew_csrf}, timeout=30)
    assert renewed.status_code == 200 and "new link" in renewed.text
    # a customer's form without the link's CSRF token is refused
    assert httpx.post(f"{link}/act/AcceptPlan", data={}, timeout=30).status_code == 403


def test_wrong_passwords_lock_the_account(web) -> None:
    staff_id = f"H-LK-{uuid.uuid4().hex[:8]}"
    staff(web, staff_id, "handler", "retail", PASSWORD)
    client = httpx.Client(base_url=f"http://127.0.0.1:{web.console_port}", timeout=30)
    for _ in range(web.lockout_attempts):
        reply = sign_in(client, staff_id, "wrong password!")
        assert reply.status_code == 401
    reply = sign_in(client, staff_id, PASSWORD)
    assert reply.status_code == 401 and "locked" in reply.text
    assert "accord_session" not in reply.cookies
    log = (web.data_dir / "logs" / "console.log").read_text()
    assert f"sign-in refused for '{staff_id}': locked" in log
    assert PASSWORD not in log and "wrong password!" not in log
