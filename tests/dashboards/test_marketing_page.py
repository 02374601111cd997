"""Marketing creates and triggers a campaign by clicking, and its nudges appear on the campaigns
page; an analyst reads that page but cannot open the one that acts, nor act by forging the
callback request.

Real processes throughout: the worker (validation and nudges), the campaign fan-out, the sink
and ``python -m dashboards``, with simulated traffic of the last hours in ClickHouse.
"""

import json
import os
import subprocess
import sys
import time

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from channelhub.platform.env import settings_env
from channelhub.platform.health import http_ok, tcp_open
from kernel.settings import Settings
from sinks.client import connect
from tests.dashboards.browser import WAIT_S, sign_in_as, wait_for_text
from tests.dashboards.test_volume_page import choose
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import end_offsets, wait_for, wait_until_settled

pytestmark = pytest.mark.browser

CAMPAIGN = "spring-ivr"


def _confirm(driver: WebDriver) -> None:
    """Accept the browser's confirmation dialog (Dash's ConfirmDialog is window.confirm)."""
    WebDriverWait(driver, WAIT_S).until(expected_conditions.alert_is_present()).accept()


def _pick(driver: WebDriver, dropdown_id: str, label: str) -> None:
    """Choose ``label`` in a single-choice dropdown, once the list refresh has offered it
    (the options arrive with the first refresh after the sink writes the campaign)."""

    def offered(d: WebDriver) -> bool:
        d.find_element(By.ID, dropdown_id).click()
        search = d.find_element(By.CSS_SELECTOR, ".dash-dropdown-content .dash-dropdown-search")
        search.send_keys(label)
        options = [o.text for o in d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")]
        if options == [label]:
            search.send_keys(Keys.ENTER)  # a single choice closes the dropdown
            return True
        search.send_keys(Keys.ESCAPE)
        time.sleep(0.5)
        return False

    WebDriverWait(driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,)).until(
        offered
    )
    wait_for_text(driver, dropdown_id, lambda text: label in text)


def _forged_trigger(driver: WebDriver) -> int:
    """POST the trigger callback by hand from the signed-in page; the HTTP status."""
    body = {
        "output": "marketing-trigger-result.children",
        "outputs": {"id": "marketing-trigger-result", "property": "children"},
        "inputs": [{"id": "marketing-trigger-confirm", "property": "submit_n_clicks",
                    "value": 1}],
        "state": [{"id": "marketing-trigger-id", "property": "value", "value": CAMPAIGN}],
        "changedPropIds": ["marketing-trigger-confirm.submit_n_clicks"],
    }  # fmt: skip
    status: int = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/_dash-update-component', {method: 'POST', headers: {'Content-Type': "
        "'application/json'}, body: arguments[0]}).then(r => done(r.status));",
        json.dumps(body),
    )
    return status


def test_marketing_creates_and_triggers_by_clicking_and_an_analyst_cannot(
    migrated: Settings, topics: Topics, start_service: StartService, browser: WebDriver
) -> None:
    settings = migrated.model_copy(update={"dashboard_refresh_seconds": 1.0})
    start_service("worker", "streams", settings,
                  health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120)  # fmt: skip
    fan_out = tcp_open("127.0.0.1", settings.campaigns_web_port)
    start_service("campaigns", "streams", settings, "--stage", "campaigns", health=fan_out,
                  timeout=120)  # fmt: skip
    start_service("sink", "sinks", settings)
    # No --start: the simulator ends its traffic before now, however thin the hour it
    # simulates (at night in Hunan 3,000 events from three hours ago ran into the future).
    simulated = subprocess.run(
        [sys.executable, "-m", "channelhub.simulator", "--events", "3000"],
        env={**os.environ, **settings_env(settings)}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    client = connect(settings)

    def scalar(sql: str) -> int:
        ((n,),) = client.execute(sql)
        return int(n)

    # Every stage drained, not only the events in: the opt-outs the nudge stage derives from
    # the same traffic reach ClickHouse after them, and change the audience counted below.
    wait_until_settled(settings)
    assert scalar("SELECT count() FROM events") == 3000
    start_service("dashboard", "dashboards", settings, health=http_ok(settings.dashboard_url))
    page = f"{settings.dashboard_url}campaigns"
    authoring = f"{page}/new"

    sign_in_as(browser, authoring, "marketing")
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "marketing-new-id"))
    browser.find_element(By.ID, "marketing-new-id").send_keys(CAMPAIGN)
    choose(browser, "marketing-new-used", "10086 IVR")
    # Counted here: IVR callers of the last 30 days who have not opted out of everything.
    audience = scalar(
        "SELECT uniqExact(subscriber) FROM events WHERE channel = 'ivr' AND subscriber NOT IN "
        "(SELECT subscriber FROM opt_outs WHERE scope = '*')"
    )
    assert audience > 50
    wait_for_text(browser, "marketing-preview",
                  lambda t: t.startswith(f"Audience now: {audience:,} subscribers"))  # fmt: skip
    browser.find_element(By.ID, "marketing-create").click()
    _confirm(browser)
    wait_for_text(browser, "marketing-create-result", lambda t: t.startswith("Created campaign"))
    _pick(browser, "marketing-trigger-id", CAMPAIGN)
    browser.find_element(By.ID, "marketing-trigger").click()
    _confirm(browser)
    wait_for_text(browser, "marketing-trigger-result", lambda t: t.startswith("Triggered"))

    rule = f"campaign:{CAMPAIGN}"
    wait_for(
        lambda: scalar(f"SELECT uniqExact(nudge_id) FROM nudge_requests WHERE rule_id = '{rule}'")
        == audience,
        f"{audience} nudges of the campaign",
    )  # fmt: skip
    browser.get(f"{page}?source={rule}")
    wait_for_text(browser, "marketing-funnel-requested", f"{audience:,}")
    # The trigger's row comes from another topic than the nudges the funnel counts: the sink
    # may write it later, so every stage drains before the count.
    wait_until_settled(settings, ("campaigns", "validate", "nudges", "sink"))
    assert scalar("SELECT count() FROM campaign_triggers") == 1

    # Leave the live page first: its refreshes, answered 401 once the cookie is gone, would
    # send the browser to the login form again while the analyst is filling it in.
    browser.get("about:blank")
    browser.delete_all_cookies()
    sign_in_as(browser, page, "analyst")
    browser.get(f"{page}?source={rule}")  # analysts read the same funnel
    wait_for_text(browser, "marketing-funnel-requested", f"{audience:,}")
    assert not browser.find_elements(By.ID, "marketing-trigger")
    assert not browser.find_elements(By.ID, "marketing-create")
    # A trigger is acknowledged by the broker before the callback answers, so a refused one
    # that slipped through would already be on the topic: its end offsets must not move.
    lifecycle = end_offsets(settings.kafka_bootstrap, [settings.topic_campaigns])
    assert _forged_trigger(browser) == 403
    browser.get(authoring)
    wait_for_text(browser, "access-denied", lambda t: t.startswith("403 · New campaign"))
    assert not browser.find_elements(By.ID, "marketing-create")
    assert end_offsets(settings.kafka_bootstrap, [settings.topic_campaigns]) == lifecycle
    assert scalar("SELECT count() FROM campaign_triggers") == 1
