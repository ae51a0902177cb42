"""The handler console and the customer's page in a real browser (Debian's chromium, headless,
driven by Selenium with the driver given explicitly, so Selenium Manager downloads nothing),
against every service on the real broker: a handler and a customer settle a case together."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.web import complaint, gateway_key, post_json, staff

ROOT = Path(__file__).resolve().parents[2]
# Screenshots go to the test's data directory, or, to refresh the ones in the docs,
# ACCORD_SCREENSHOTS=docs/screenshots (so a test run does not rewrite tracked files).
SHOTS_DIR = os.environ.get("ACCORD_SCREENSHOTS")


def _driver():  # type: ignore[no-untyped-def]
    os.environ["SE_OFFLINE"] = "true"  # belt and braces: Selenium Manager must never download
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.fail("chromium and chromium-driver are missing: `make test` installs them (deploy/browser.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,1000")
    options.add_argument("--lang=en-US")
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    driver = _driver()
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, css: str, text: str | None = None, timeout_s: float = 60.0):  # type: ignore[no-untyped-def]
    """The element once it shows (and holds `text`); the pages reload themselves on new events."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout_s, poll_frequency=0.3)
    if text is None:
        return wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return driver.find_element(By.CSS_SELECTOR, css)


def fill(driver, form_css: str, values: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    form = driver.find_element(By.CSS_SELECTOR, form_css)
    for name, value in values.items():
        element = form.find_element(By.NAME, name)
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        elif element.get_attribute("type") in ("time", "date"):  # typing into these depends on the locale
            driver.execute_script("arguments[0].value = arguments[1];", element, value)
        else:
            element.clear()
            element.send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button").click()


def shot(driver, name: str, settings) -> None:  # type: ignore[no-untyped-def]
    where = Path(SHOTS_DIR) if SHOTS_DIR else settings.data_dir / "screenshots"
    where.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(where / f"{name}.png"))


def open_details(driver, form_css: str) -> None:  # type: ignore[no-untyped-def]
    driver.execute_script(
        "var f = document.querySelector(arguments[0]);"
        " if (f && f.closest('details')) f.closest('details').open = true;",
        form_css,
    )


def test_a_handler_and_a_customer_settle_a_case_in_the_browser(web, browser, watcher) -> None:
    running = web
    from selenium.webdriver.common.by import By

    from events.base import Actor
    from events.facts import REFERENCE_KEY
    from services import clients, publish

    # An operator has loaded the (sample) reference data the wealth explanation cites.
    producer = clients.producer(running)
    sample = publish.reference(ROOT / "deploy" / "reference" / "sample.json", Actor(kind="staff", id="OPS-1"))
    publish.send(producer, sample).get(timeout=30)
    producer.close()
    watcher.wait(REFERENCE_KEY, "ReferenceDataLoaded", "CommandRejected")

    run = uuid.uuid4().hex[:8]
    handler, password = f"H-UI-{run}", "correct horse battery"
    staff(running, handler, "handler", f"BR-UI-{run}", password)
    console = f"http://127.0.0.1:{running.console_port}"
    # A branch takes the complaint and submits it through the gateway, as a channel not
    # written in Python would; the answer carries the customer's link.
    status, answer = post_json(
        f"http://127.0.0.1:{running.gateway_port}/v1/complaints",
        complaint(run),
        gateway_key(running, "branch"),
    )
    assert status == 202, answer
    case, link = answer["case_id"], answer["customer_link"]
    assert link.startswith(console + "/c/")

    # The handler signs in and finds the case at the top of their queue ("mine" by default).
    d = browser
    d.get(f"{console}/console/login")
    d.find_element(By.ID, "staff_id").send_keys(handler)
    d.find_element(By.ID, "password").send_keys(password)
    d.find_element(By.ID, "sign-in").click()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = d.find_elements(By.CSS_SELECTOR, "#queue a.case-link")
        if rows:
            break
        time.sleep(0.5)
        d.get(f"{console}/console")
    assert rows and rows[0].text == case
    shot(d, "console-queue", running)
    rows[0].click()
    wait_for(d, "#case-title", case)
    # The complaint's HTML and script are shown as text, never run.
    assert "<script>" in d.find_element(By.ID, "subject").text
    assert "<img src=x" in d.find_element(By.ID, "description").text
    assert "&lt;script&gt;" in d.page_source and "<script>alert" not in d.page_source

    # Contact, then facts: the policy proposes a plan, with its terms, and offers it.
    fill(d, "#form-RecordContactAttempt", {"method": "phone", "outcome": "reached"})
    wait_for(d, "#timeline", "Contact attempt 1 by phone: reached")
    wait_for(d, "#form-RecordFacts")
    open_details(d, "#form-RecordFacts")
    fill(
        d,
        "#form-RecordFacts",
        {
            "summary": "Customer expected a fixed return; explained the R3 rating",
            "ledger.as_of": time.strftime("%Y-%m-%d", time.gmtime()),
            "ledger.product": "WM-SAMPLE-BAL",  # the product held, as the ledger names it
        },
    )
    wait_for(d, "#plan", "risk_explanation")
    wait_for(d, "#case-status", "offered")
    shot(d, "console-case", running)

    # The customer opens their link (no account), picks a contact time, counters, accepts.
    d.get(link + "?lang=en")
    wait_for(d, "#customer-status", "We have made you an offer")
    d.find_element(By.ID, "answer-by")
    fill(d, "#form-preference", {"method": "sms", "start": "18:00", "end": "20:00"})
    wait_for(d, "#current-preference", "sms")
    open_details(d, "#form-counter")
    fill(d, "#form-counter", {"summary": "I would rather switch to a lower-risk product"})
    wait_for(d, "#plan", "round 2")
    wait_for(d, "#customer-status", "We have made you an offer")
    shot(d, "customer-offer", running)
    d.set_window_size(390, 844)  # a phone, in Chinese
    d.get(link + "?lang=zh-CN")
    wait_for(d, "#customer-status", "我们已向您提出方案")
    shot(d, "customer-phone-zh", running)
    d.set_window_size(1280, 1000)
    d.get(link + "?lang=en")
    wait_for(d, "#accept")
    d.find_element(By.ID, "accept").click()
    wait_for(d, "#form-survey", timeout_s=90)
    d.find_element(By.CSS_SELECTOR, "#form-survey input[name=csat][value='5']").click()
    fill(d, "#form-survey", {"nps": "9", "comment": "Clear explanation, thank you"})
    wait_for(d, "#closed", "closed")
    d.get(link + "?lang=zh-CN")
    wait_for(d, "#customer-status", "您的案件已结案")

    # The handler sees it closed; the timeline says what happened.
    d.get(f"{console}/console/cases/{case}")
    wait_for(d, "#case-status", "closed")
    timeline = d.find_element(By.ID, "timeline").text
    assert "The customer countered plan" in timeline and "The customer accepted plan" in timeline
    assert "Contact preference set: sms" in timeline and "The case was closed" in timeline
    # The handler's own language: the console in Chinese.
    d.find_element(By.CSS_SELECTOR, "form[action='/console/language'] button").click()
    wait_for(d, "#timeline", "案件已结案")
    shot(d, "console-case-closed-zh", running)
