"""Helpers for the tests of the console, the customer's page and the gateway."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from services.web.accounts import Accounts


def wait_until_up(running) -> None:  # type: ignore[no-untyped-def]
    """Returns once the console and the gateway answer."""
    import httpx

    for port in (running.console_port, running.gateway_port):
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"nothing answers on port {port}"
            time.sleep(0.3)


def gateway_key(running, channel: str) -> str:
    accounts = Accounts(running.data_dir)
    try:
        return accounts.add_api_key(channel)
    finally:
        accounts.close()


def staff(running, staff_id: str, role: str, team: str, password: str, lang: str = "en") -> None:
    accounts = Accounts(running.data_dir)
    try:
        accounts.add_staff(staff_id, role, team, password, lang)  # type: ignore[arg-type]
    finally:
        accounts.close()


def post_json(url: str, body: object, key: str | None) -> tuple[int, dict]:
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    reply = httpx.post(
        url, content=json.dumps(body, ensure_ascii=False).encode(), headers=headers, timeout=30
    )
    return reply.status_code, reply.json()


def complaint(run: str, **changes: object) -> dict:
    return {
        "submission_id": f"ui-{run}",
        "channel": "branch",
        "submitted_at": datetime.now(UTC).isoformat(),
        "customer_id": f"CUI-{run}",
        "customer": {"name": f"王芳{run}", "phone": "+86 137 0000 1234"},
        "branch_id": f"BR-UI-{run}",
        "staff_id": f"H-UI-{run}",
        "product": "Wealth management product",
        "subject": "Return lower than expected <script>alert('x')</script>",
        "description": "理财产品收益低于预期。<img src=x onerror=alert(1)> 请解释原因。",
        "amount_disputed": {"amount": "8000.00"},
        **changes,
    }


def signed_in(running, staff_id: str, password: str):  # type: ignore[no-untyped-def]
    """An HTTP client with a console session, and the session's CSRF token."""
    import re

    import httpx

    client = httpx.Client(base_url=f"http://127.0.0.1:{running.console_port}", timeout=30)
    reply = sign_in(client, staff_id, password)
    assert reply.status_code == 303, reply.text
    page = client.get("/console").text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return client, found.group(1)


def submit(running, run: str, **changes: object) -> dict:
    """A complaint through the gateway (as a branch): its answer, with case id and link."""
    status, answer = post_json(
        f"http://127.0.0.1:{running.gateway_port}/v1/complaints",
        complaint(run, **changes),
        gateway_key(running, str(changes.get("channel", "branch"))),
    )
    assert status == 202, answer
    return answer


def wait_view(running, case_id: str, test, timeout_s: float = 60.0) -> dict:  # type: ignore[no-untyped-def]
    """The case's view once `test(view)` holds."""
    from projections.store import ViewStore

    deadline = time.monotonic() + timeout_s
    while True:
        store = ViewStore.open(running.data_dir, running.database_url)
        try:
            view = store.get(case_id)
        finally:
            store.close()
        if view is not None and test(view):
            return view
        assert time.monotonic() < deadline, f"case {case_id} never got there: {view and view['status']}"
        time.sleep(0.3)


def sign_in(client, staff_id: str, password: str):  # type: ignore[no-untyped-def]
    """Post the sign-in form as a browser does: with the token the form page handed out."""
    import re

    form = client.get("/console/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    return client.post("/console/login", data={"staff_id": staff_id, "password": password, "csrf": token})
