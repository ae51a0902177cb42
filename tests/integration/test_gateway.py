"""The channels' gateway on the running services, driven by curl as a channel not written in
Python would: a submission goes onto `complaints.submitted` with no personal value in the clear,
a malformed body gets a 4xx naming the field, and a channel without a valid key is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid

import httpx

from events.topics import SUBMITTED
from services import clients
from tests.integration.web import complaint, gateway_key, post_json, wait_view


def curl(url: str, body: bytes, key: str | None) -> tuple[int, dict]:
    tool = shutil.which("curl")
    assert tool, "curl is needed for the gateway test"
    args = [tool, "-sS", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@-"]
    if key:
        args += ["-H", f"Authorization: Bearer {key}"]
    done = subprocess.run(
        [*args, "-w", "\n%{http_code}", url], input=body, capture_output=True, check=True, timeout=60
    )
    text, _, code = done.stdout.decode().rpartition("\n")
    return int(code), json.loads(text)


def records_for(running, submission_id: str, timeout_s: float = 20.0) -> list:  # type: ignore[no-untyped-def]
    consumer = clients.consumer(running, SUBMITTED.name, auto_offset_reset="earliest", group_id=None)
    try:
        found, deadline = [], time.monotonic() + timeout_s
        while not found and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                found.extend(r for r in batch if r.key == submission_id.encode())
        return found
    finally:
        consumer.close()


def test_curl_submits_and_no_personal_value_reaches_the_topic_in_the_clear(web) -> None:
    run = uuid.uuid4().hex[:8]
    body = complaint(
        run,
        channel="hotline",
        branch_id=None,
        staff_id=None,
        customer={
            "name": f"赵敏{run}",
            "phone": "+86 135 2468 1357",
            "id_number": f"11010119900307{run[:4]}",
        },
        description=f"我是赵敏{run}，电话 +86 135 2468 1357，年费被重复扣收。",
    )
    url = f"http://127.0.0.1:{web.gateway_port}/v1/complaints"
    status, answer = curl(url, json.dumps(body, ensure_ascii=False).encode(), gateway_key(web, "hotline"))
    assert status == 202, answer
    assert answer["submission_id"] == f"ui-{run}" and answer["customer_link"].startswith("http")
    records = records_for(web, f"ui-{run}")
    assert len(records) == 1
    raw = records[0].value
    for value in (f"赵敏{run}", "+86 135 2468 1357", f"11010119900307{run[:4]}"):
        assert value.encode() not in raw, "personal data in the clear on complaints.submitted"
    assert b'"ciphertext"' in raw
    wait_view(web, answer["case_id"], lambda v: v["status"] != "unknown")
    # the same submission again is the same record to intake: same case, no second one
    again_status, again = curl(
        url, json.dumps(body, ensure_ascii=False).encode(), gateway_key(web, "hotline")
    )
    assert again_status == 202 and again["case_id"] == answer["case_id"]


def test_a_malformed_body_gets_a_4xx_naming_the_field(web) -> None:
    key = gateway_key(web, "app")
    url = f"http://127.0.0.1:{web.gateway_port}/v1/complaints"
    run = uuid.uuid4().hex[:8]
    good = complaint(run, channel="app", branch_id=None, staff_id=None)
    cases = [
        ({**good, "submitted_at": "yesterday"}, "submitted_at"),
        ({k: v for k, v in good.items() if k != "subject"}, "subject"),
        ({**good, "amount_disputed": {"amount": "-5"}}, "amount_disputed"),
        ({**good, "channel": "fax"}, "channel"),
        ({**good, "surprise": 1}, "surprise"),
    ]
    for body, field in cases:
        status, answer = curl(url, json.dumps(body).encode(), key)
        assert 400 <= status < 500 and status != 401, (field, status, answer)
        assert answer["field"].startswith(field) and field in answer["error"], answer
        assert "王芳" not in answer["error"]  # errors never repeat a value
    status, answer = curl(url, b'{"submission_id": ', key)
    assert status == 422 and "JSON" in answer["error"]
    status, answer = curl(url, json.dumps({**good, "channel": "branch"}).encode(), key)
    assert status == 403 and answer["field"] == "channel"  # an app key cannot submit as the branch
    big = {**good, "description": "x" * (web.gateway_max_bytes + 10)}
    status, answer = curl(url, json.dumps(big).encode(), key)
    assert status == 413


def test_a_channel_without_a_valid_key_is_refused(web) -> None:
    url = f"http://127.0.0.1:{web.gateway_port}/v1/complaints"
    body = json.dumps(complaint(uuid.uuid4().hex[:8])).encode()
    for key in (None, "acc_branch_not-a-real-key", gateway_key(web, "branch") + "x"):
        status, answer = curl(url, body, key)
        assert status == 401 and "API key" in answer["error"]
    status, _ = post_json(f"http://127.0.0.1:{web.gateway_port}/v1/cases/C123/commands", {}, None)
    assert status == 401


def test_a_channels_front_end_sends_the_customers_command(web) -> None:
    run = uuid.uuid4().hex[:8]
    key = gateway_key(web, "app")
    answer = post_json(
        f"http://127.0.0.1:{web.gateway_port}/v1/complaints",
        complaint(run, channel="app", branch_id=None, staff_id=None),
        key,
    )[1]
    case = answer["case_id"]
    wait_view(web, case, lambda v: v["status"] != "unknown")
    url = f"http://127.0.0.1:{web.gateway_port}/v1/cases/{case}/commands"
    preference = {"type": "SetContactPreference", "preference": {"method": "email"}}
    status, sent = post_json(url, {"customer_id": "someone-else", "command": preference}, key)
    assert status == 404
    status, sent = post_json(url, {"customer_id": f"CUI-{run}", "command": {"type": "ApprovePlan"}}, key)
    assert status == 422 and sent["field"] == "command.type"  # not a customer's command
    status, sent = post_json(url, {"customer_id": f"CUI-{run}", "command": preference}, key)
    assert status == 202, sent
    wait_view(web, case, lambda v: any(e["type"] == "ContactPreferenceSet" for e in v["timeline"]))
    status, fresh = post_json(
        f"http://127.0.0.1:{web.gateway_port}/v1/cases/{case}/link", {"customer_id": f"CUI-{run}"}, key
    )
    assert status == 200 and httpx.get(fresh["customer_link"], timeout=30).status_code == 200


def test_the_openapi_document_is_served_and_matches_the_published_one(web) -> None:
    from pathlib import Path

    served = httpx.get(f"http://127.0.0.1:{web.gateway_port}/v1/openapi.json", timeout=30).json()
    published = json.loads(
        (Path(__file__).resolve().parents[2] / "docs" / "gateway.openapi.json").read_text()
    )
    assert served == published
    assert "/v1/complaints" in served["paths"] and "ComplaintSubmission" in served["components"]["schemas"]
