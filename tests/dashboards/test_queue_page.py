"""The queue monitor and its alert rules page in real headless Chromium, served by
``python -m dashboards``, signed in as ops.

The test overloads the queue with known calls, reads the numbers and the alert a person would
see, then lets it recover with fast answers and waits for the alert to clear; a rule changed on
the alert rules page then raises it again on the monitor. Waits poll for text, never sleep.
"""

from datetime import UTC, datetime, timedelta

import pytest
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from channelhub.platform.health import http_ok
from dashboards.queries.queue import spans
from kernel.settings import Settings
from tests.dashboards.browser import WAIT_S, sign_in_as, text_of, wait_for_text
from tests.dashboards.queue_data import Call, insert_calls
from tests.dashboards.test_filters import HOSTILE
from tests.fixtures.services import StartService, Topics, free_port

SERVICE_LEVEL_ALERT = "WARNING · Service level < 80.0% over 15 min: now"


def open_queue_page(start_service: StartService, settings: Settings, browser: WebDriver) -> str:
    """Serve the dashboard, sign in as ops on the queue monitor; the dashboard's URL."""
    live = settings.model_copy(update={"dashboard_refresh_seconds": 1.0})
    start_service("dashboard", "dashboards", live, health=http_ok(live.dashboard_url))
    sign_in_as(browser, f"{live.dashboard_url}queue", "ops")
    return live.dashboard_url


def rule_box(browser: WebDriver, field: str, rule_id: str) -> WebElement:
    """The ``threshold`` or ``window`` input of one rule on the alert rules page, once drawn
    (Dash writes a pattern-matching id as JSON, keys sorted)."""
    selector = f'input[id*=\'"rule":"{rule_id}","type":"queue-{field}"\']'
    try:
        WebDriverWait(browser, WAIT_S, poll_frequency=0.1).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, selector)
        )
    except TimeoutException:
        raise AssertionError(f"no {field} input for {rule_id} within {WAIT_S:.0f} s") from None
    return browser.find_element(By.CSS_SELECTOR, selector)


def wait_for_value(browser: WebDriver, field: str, rule_id: str, value: str) -> None:
    """Wait until a rule's input holds ``value`` (the form is drawn again after Apply/Reset)."""
    seen: list[str | None] = []

    def holds(d: WebDriver) -> bool:
        seen.append(rule_box(d, field, rule_id).get_attribute("value"))
        return seen[-1] == value

    try:
        WebDriverWait(
            browser, WAIT_S, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
        ).until(holds)
    except TimeoutException:
        last = seen[-1] if seen else None
        raise AssertionError(f"{rule_id} {field} is {last!r}, not {value!r}") from None


@pytest.mark.browser
def test_overloaded_queue_raises_the_alert_and_recovery_clears_it(
    migrated: Settings, topics: Topics, start_service: StartService, browser: WebDriver
) -> None:
    now = datetime.now(UTC)
    start = now - timedelta(minutes=10)
    slow = [
        Call("changsha", start + timedelta(seconds=10 * i), "answered", wait_s=60.0,
             agent=f"A{100 + i:04d}", talk_s=30.0)
        for i in range(20)
    ]  # fmt: skip
    waiting = [Call("yiyang", now - timedelta(minutes=2), "waiting") for _ in range(7)]
    insert_calls(migrated, [*slow, *waiting])
    start_service("sink", "sinks", migrated)
    url = open_queue_page(start_service, migrated, browser)

    wait_for_text(browser, "queue-kpi-waiting", "7 calls")
    assert text_of(browser, "queue-kpi-service-level") == "0.0%"  # 0 of 20 within 20 s
    assert text_of(browser, "queue-kpi-asa") == "60.0 s"
    assert text_of(browser, "queue-kpi-abandonment") == "0.0%"
    assert text_of(browser, "queue-kpi-p90") == "60.0 s"
    assert text_of(browser, "queue-kpi-occupancy") == f"{20 * 30 / (20 * 15 * 60):.1%}"
    assert text_of(browser, "queue-row-yiyang").split()[:2] == ["Yiyang", "7"]
    assert text_of(browser, "queue-row-changsha").split()[1:4] == ["0", "20", "0"]
    banner = wait_for_text(browser, "queue-alerts", lambda t: SERVICE_LEVEL_ALERT in t)
    assert f"{SERVICE_LEVEL_ALERT} 0.0%" in banner
    assert "Average speed of answer > 30.0 s over 15 min: now 60.0 s" in banner
    assert "UTC+8" in text_of(browser, "queue-updated")

    fast = [
        Call("xiangtan", now - timedelta(minutes=4), "answered", wait_s=2.0,
             agent=f"A{1000 + i:04d}", talk_s=20.0)
        for i in range(200)
    ]  # fmt: skip
    insert_calls(migrated, fast)
    # 200 of 220 within 20 s; ASA (20 x 60 + 200 x 2) / 220 s
    wait_for_text(browser, "queue-kpi-service-level", "90.9%")
    wait_for_text(browser, "queue-alerts", "")
    assert text_of(browser, "queue-kpi-asa") == f"{(20 * 60 + 200 * 2) / 220:.1f} s"

    # A stricter rule, recorded for everyone on the alert rules page: the sink writes it and
    # the monitor's alert is back.
    browser.get(f"{url}queue/alert-rules")
    for box, value in ((rule_box(browser, "threshold", "service-level-low"), "0.95"),
                       (rule_box(browser, "window", "service-level-low"), "10")):  # fmt: skip
        box.clear()
        box.send_keys(value)
    browser.find_element(By.ID, "queue-apply").click()
    recorded = wait_for_text(browser, "queue-rules-status", lambda t: t.startswith("Recorded"))
    assert recorded.startswith("Recorded for everyone by ops: service-level-low.")
    browser.get(f"{url}queue")
    wait_for_text(browser, "queue-alerts", lambda t: "Service level < 95.0% over 10 min" in t)
    wait_for_text(browser, "queue-rule-service-level-low", lambda t: "ops, " in t)

    browser.get(f"{url}queue/alert-rules")
    wait_for_value(browser, "threshold", "service-level-low", "0.95")  # the change, in force
    browser.find_element(By.ID, "queue-reset").click()
    wait_for_text(browser, "queue-rules-status", lambda t: t.startswith("Reset to the file"))
    wait_for_value(browser, "threshold", "service-level-low", "0.8")
    browser.get(f"{url}queue")
    wait_for_text(browser, "queue-rule-service-level-low", lambda t: "the file" in t)
    assert text_of(browser, "queue-alerts") == ""  # drawn by the same refresh as the rules


@pytest.mark.browser
def test_a_bad_threshold_is_refused_with_a_message(
    migrated: Settings, start_service: StartService, browser: WebDriver
) -> None:
    url = open_queue_page(start_service, migrated, browser)
    wait_for_text(browser, "queue-status", lambda t: "No caller has ever joined" in t)
    browser.get(f"{url}queue/alert-rules")
    box = rule_box(browser, "threshold", "abandonment-high")
    box.clear()
    box.send_keys("7")
    browser.find_element(By.ID, "queue-apply").click()
    message = wait_for_text(browser, "queue-rules-status", lambda t: t.startswith("Not applied"))
    assert "share from 0 to 1" in message
    browser.get(f"{url}queue")
    wait_for_text(browser, "queue-rule-abandonment-high", lambda t: "the file" in t)
    assert text_of(browser, "queue-kpi-waiting") == "0 calls"


@pytest.mark.browser
def test_an_unreachable_clickhouse_is_reported_not_traced(
    settings: Settings, start_service: StartService, browser: WebDriver
) -> None:
    nowhere = settings.model_copy(update={"clickhouse_port": free_port()})
    open_queue_page(start_service, nowhere, browser)
    message = wait_for_text(browser, "queue-status", lambda text: bool(text))
    assert f"cannot query ClickHouse at 127.0.0.1:{nowhere.clickhouse_port}" in message
    assert text_of(browser, "queue-kpi-service-level") == "—"
    assert "Traceback" not in browser.page_source


def test_offered_spans_pass() -> None:
    assert spans("15", "3") == (15, 3)
    assert spans("60", "24") == (60, 24)


@pytest.mark.parametrize("value", [*HOSTILE, "16", None, 15, ["15"], {"$ne": 1}])
def test_any_other_span_is_refused_by_name(value: object) -> None:
    """What a hand-made callback request could send instead of a radio value."""
    with pytest.raises(ValueError, match=r"window .* is not one of 5, 15, 60 minutes"):
        spans(value, "3")
    with pytest.raises(ValueError, match=r"history .* is not one of 1, 3, 6, 12, 24 hours"):
        spans("15", value)
