"""The inspector page of `make dev`, in a real headless browser (Chromium from the OS packages,
driven by Selenium): a delivery sent with curl appears, its details open with the secrets
redacted, and "Send again" creates nothing new."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge_dev import devdata
from skipcall_bridge_dev.samples import curl_command, sample_body, sign_sample

from .browser import require_browser
from .conftest import EXAMPLE_SOURCES, Stack


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    # Installed by `make test` (the `browser` target) where it can, else one found here.
    found = require_browser()
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager downloads nothing
    options = webdriver.ChromeOptions()
    options.binary_location = found.binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,1600"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=found.driver), options=options)
    yield driver
    driver.quit()


NEWEST_NUMBER = 'return document.querySelector("details.delivery")?.dataset.number'


def sequences(stack: Stack) -> int:
    return len(stack.sandbox_sequences())


def test_a_delivery_appears_opens_and_sends_again_without_a_second_sequence(
    stack: Stack, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    assert shutil.which("curl"), "curl is how a builder sends the first delivery"
    catalog = load_sources(EXAMPLE_SOURCES)
    sample = sign_sample(catalog, "zapier", sample_body("zapier"), url=stack.gateway)
    sent = subprocess.run(  # noqa: S602 - the README's own curl line, against 127.0.0.1
        curl_command(sample), shell=True, capture_output=True, text=True, check=True, timeout=30
    )
    assert json.loads(sent.stdout)["status"] == "created"
    before = sequences(stack)

    browser.get(f"{stack.gateway}/_inspect")
    first = browser.find_element(By.CSS_SELECTOR, "details.delivery")
    summary = first.find_element(By.TAG_NAME, "summary")
    assert "zapier" in summary.text
    assert "201" in summary.text
    summary.click()
    request = first.find_element(By.CSS_SELECTOR, "pre.request").text
    assert "Authorization: [redacted]" in request
    assert "Bearer" not in request
    events = first.find_element(By.CSS_SELECTOR, "table.events").text
    assert "created" in events
    assert "creatorId" in events  # the DTO the event mapped to
    browser.save_screenshot(os.environ.get("INSPECTOR_SCREENSHOT", str(tmp_path / "inspector.png")))

    number = int(first.get_attribute("data-number") or 0)
    first.find_element(By.CSS_SELECTOR, "button.resend").click()
    # The page reloads itself after the POST. Ask the page, not a node found before the reload:
    # a node looked up while the old document is torn down raises a plain WebDriverException
    # ("does not belong to the document") on newer chromedrivers, not a stale-element error.
    WebDriverWait(browser, 30, ignored_exceptions=[WebDriverException]).until(
        lambda driver: int(driver.execute_script(NEWEST_NUMBER) or 0) > number
    )
    newest = browser.find_element(By.CSS_SELECTOR, "details.delivery")
    newest.find_element(By.TAG_NAME, "summary").click()
    WebDriverWait(browser, 30).until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "pre.answer"))
    )
    assert '"duplicate": true' in newest.find_element(By.CSS_SELECTOR, "pre.answer").text
    assert sequences(stack) == before  # sent again: answered from the table, nothing new


def test_a_letter_held_back_says_why_and_is_replayed_once_confirmed(
    stack: Stack, browser: webdriver.Chrome
) -> None:
    """#30 item 13: Replay on a letter that is not retryable answered "not-retryable" and
    stopped. A create whose outcome is unknown (Skipcall answered 500) says why, and is sent
    only once the person confirms."""
    control = {"X-Inspector-Token": stack.control_token}
    fault = json.dumps({"kind": "status", "status": 500, "count": 1}).encode()
    urllib3.request("POST", f"{stack.sandbox}/_sandbox/faults", body=fault, headers=control)
    creator = devdata.CREATOR_ID
    body = json.dumps({"name": "held back", "creatorId": creator, "assignedToIds": [creator]})
    sample = sign_sample(load_sources(EXAMPLE_SOURCES), "zapier", body.encode(), url=stack.gateway)
    status, answer = stack.post(sample.url, sample.body, sample.headers)
    assert (status, answer["events"][0]["reason"]) == (202, "OUTCOME_UNKNOWN")
    before = sequences(stack)

    browser.get(f"{stack.gateway}/_inspect")
    newest = browser.find_element(By.CSS_SELECTOR, "details.delivery")
    newest.find_element(By.TAG_NAME, "summary").click()
    newest.find_element(By.CSS_SELECTOR, "button.replay").click()
    asked = WebDriverWait(browser, 30).until(expected_conditions.alert_is_present())
    assert "Skipcall may have created it already" in asked.text
    assert "Replay it anyway?" in asked.text
    asked.dismiss()  # not sent: nothing happens
    assert sequences(stack) == before
    newest.find_element(By.CSS_SELECTOR, "button.replay").click()
    WebDriverWait(browser, 30).until(expected_conditions.alert_is_present()).accept()
    WebDriverWait(browser, 30, ignored_exceptions=[WebDriverException]).until(
        lambda driver: (
            "replayed at" in driver.find_element(By.TAG_NAME, "body").text
            or "replayed at" in (driver.page_source or "")
        )
    )
    assert sequences(stack) == before + 1
