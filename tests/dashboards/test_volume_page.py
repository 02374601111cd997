"""The volume page in real headless Chromium, served by ``python -m dashboards``.

The dashboard runs as its own process against the test's ClickHouse database; the test reads
the numbers a person would read and compares them with counts made in Python from the events
it inserted. Waits poll for text, never sleep.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from channelhub.platform.health import http_ok
from kernel.settings import Settings
from schemas.envelope import CHANNELS
from tests.dashboards.browser import WAIT_S, sign_in_as, text_of, type_text, wait_for_text
from tests.dashboards.data import Known, insert_events, scatter, tables
from tests.fixtures.services import StartService, free_port

pytestmark = pytest.mark.browser


def serve(start_service: StartService, settings: Settings) -> str:
    """Start the dashboard for ``settings`` (refreshing every second); return its URL."""
    live = settings.model_copy(update={"dashboard_refresh_seconds": 1.0})
    start_service("dashboard", "dashboards", live, health=http_ok(live.dashboard_url))
    return live.dashboard_url


def assert_totals(driver: WebDriver, events: list[Known]) -> None:
    """The "All channels" card, then every channel card, equal the Python counts."""
    wait_for_text(driver, "volume-total-all", f"{len(events):,}")
    per_channel = Counter(k.channel for k in events)
    shown = {c: text_of(driver, f"volume-total-{c}") for c in CHANNELS}
    assert shown == {c: f"{per_channel[c]:,}" for c in CHANNELS}


def choose(driver: WebDriver, dropdown_id: str, label: str) -> None:
    """Open a multi-select dropdown, search for ``label``, tick it with Enter, close it.

    The keyboard, not a click: the options' popover slides into place as it opens, so a click
    aimed at an option can land on its neighbour.
    """
    driver.find_element(By.ID, dropdown_id).click()
    search = WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ".dash-dropdown-content .dash-dropdown-search")
    )
    search.send_keys(label)
    WebDriverWait(driver, WAIT_S).until(
        lambda d: [o.text for o in d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")]
        == [label]
    )
    search.send_keys(Keys.ENTER)
    search.send_keys(Keys.ESCAPE)
    wait_for_text(driver, dropdown_id, lambda text: label in text)


def pick_range(driver: WebDriver, preset: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"#volume-range input[value='{preset}']").find_element(
        By.XPATH, "./ancestor::label"
    ).click()


def test_totals_follow_clickhouse_filters_and_live_inserts(
    migrated: Settings, start_service: StartService, browser: WebDriver
) -> None:
    now = datetime.now(UTC)
    today = scatter(600, now - timedelta(hours=23), now - timedelta(minutes=10), seed=3)
    older = scatter(200, now - timedelta(days=5), now - timedelta(days=2), seed=4)
    insert_events(migrated, [*today, *older])
    sign_in_as(browser, serve(start_service, migrated))

    assert_totals(browser, today)  # the default range is the last 24 h
    assert "Asia/Shanghai" in text_of(browser, "volume-range-label")
    assert "0 dead letters" in text_of(browser, "volume-health")

    choose(browser, "volume-filter-prefecture", "Changsha")
    assert_totals(browser, [k for k in today if k.prefecture == "changsha"])

    pick_range(browser, "7d")
    changsha = [k for k in (*today, *older) if k.prefecture == "changsha"]
    assert_totals(browser, changsha)

    choose(browser, "volume-filter-channel", "SMS hall")
    wait_for_text(browser, "volume-total-ivr", "—")
    wait_for_text(browser, "volume-total-sms", f"{sum(k.channel == 'sms' for k in changsha):,}")

    late = [Known("sms", "changsha", "mzone", datetime.now(UTC) - timedelta(seconds=5))] * 4
    insert_events(migrated, late)
    wait_for_text(browser, "volume-total-sms", f"{sum(k.channel == 'sms' for k in changsha) + 4:,}")


def test_a_hostile_custom_range_is_refused_with_a_message(
    migrated: Settings, start_service: StartService, browser: WebDriver
) -> None:
    insert_events(
        migrated, scatter(50, datetime.now(UTC) - timedelta(hours=2), datetime.now(UTC), seed=5)
    )
    sign_in_as(browser, serve(start_service, migrated))
    wait_for_text(browser, "volume-total-all", "50")

    pick_range(browser, "custom")
    # The inputs appear pre-filled with the last day; type only once that has happened.
    start = browser.find_element(By.ID, "volume-start")
    WebDriverWait(browser, WAIT_S).until(lambda _: start.get_attribute("value"))
    assert start.is_displayed()
    type_text(start, "'; DROP TABLE events; --")
    start.send_keys(Keys.ENTER)

    refused = (
        'Check the filters: custom range: start "\'; DROP TABLE events; --" is not a time like'
    )
    wait_for_text(browser, "volume-status", lambda text: text.startswith(refused))
    assert text_of(browser, "volume-total-all") == "—"
    assert {"events", "events_per_minute", "dead_letters"} <= tables(migrated)


def test_an_empty_database_says_why_it_is_empty(
    migrated: Settings, start_service: StartService, browser: WebDriver
) -> None:
    sign_in_as(browser, serve(start_service, migrated))
    message = wait_for_text(browser, "volume-status", lambda text: bool(text))
    assert "No events in ClickHouse yet — is the simulator running?" in message
    assert text_of(browser, "volume-total-all") == "0"


def test_an_unreachable_clickhouse_is_reported_not_traced(
    settings: Settings, start_service: StartService, browser: WebDriver
) -> None:
    nowhere = settings.model_copy(update={"clickhouse_port": free_port()})
    sign_in_as(browser, serve(start_service, nowhere))
    message = wait_for_text(browser, "volume-status", lambda text: bool(text))
    assert f"cannot query ClickHouse at 127.0.0.1:{nowhere.clickhouse_port}" in message
    assert "Traceback" not in browser.page_source
