"""Marketing uploads a rule file on the back-test page and reads what the back-test reports for
it, figure for figure; a bad file shows the rule loader's one-line error.

Real processes throughout: the worker, the sink and ``python -m dashboards``, with simulated
traffic of the last hours in ClickHouse. The page's report is checked against the back-test
run here directly over the same window.
"""

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from channelhub.marketing.backtest import DEFAULT_WARMUP_DAYS, plan_for, rule_from_text, table
from channelhub.marketing.history import replay
from channelhub.platform.env import settings_env
from channelhub.platform.health import http_ok, tcp_open
from kernel.settings import Settings
from orchestration.rules import SHIPPED_RULES_DIR
from orchestration.rules.errors import RuleConfigError
from sinks.client import connect, database_name
from tests.dashboards.browser import WAIT_S, sign_in_as, text_of, wait_for_text
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_until_settled

pytestmark = pytest.mark.browser

SHIPPED = SHIPPED_RULES_DIR / "long_agent_wait.toml"
BAD = "version = 1\n[rule]\nid = 'broken'\n"


def test_marketing_backtests_an_uploaded_rule_and_sees_a_bad_one_refused(
    migrated: Settings, topics: Topics, start_service: StartService, browser: WebDriver,
    tmp_path: Path,
) -> None:  # fmt: skip
    settings = migrated
    start_service("worker", "streams", settings,
                  health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120)  # fmt: skip
    start_service("sink", "sinks", settings)
    simulated = subprocess.run(
        [sys.executable, "-m", "channelhub.simulator", "--events", "3000"],
        env={**os.environ, **settings_env(settings)}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    wait_until_settled(settings, timeout=180)
    start_service("dashboard", "dashboards", settings, health=http_ok(settings.dashboard_url))

    edited = tmp_path / "ivr_long_agent_wait_30.toml"
    # Any wait, on any day: enough requests in a few hours of traffic to fill every figure.
    busy = '[[rule.conditions]]\nfield = "call_busy_period"\nop = "eq"\nvalue = true\n\n'
    shipped = SHIPPED.read_text(encoding="utf-8")
    assert busy in shipped
    text = shipped.replace(busy, "").replace("value = 60", "value = 0")
    edited.write_text(text, encoding="utf-8")
    sign_in_as(browser, f"{settings.dashboard_url}campaigns/backtest", "marketing")
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "marketing-backtest-run"))
    upload = "#marketing-backtest-upload input[type=file]"
    browser.find_element(By.CSS_SELECTOR, upload).send_keys(str(edited))
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_element(By.ID, "marketing-backtest-text").get_attribute("value") == text
    )
    browser.find_element(By.ID, "marketing-backtest-run").click()
    wait_for_text(browser, "marketing-backtest-progress", lambda t: t.startswith("Done:"))
    shown = text_of(browser, "marketing-backtest-report").splitlines()

    # The same back-test, run here over the window the page reports.
    end = datetime.fromisoformat(shown[0].rsplit(" to ", 1)[1])
    candidate = rule_from_text(text, edited.name)
    plan, errors = plan_for(
        settings, candidate, days=7, end=end, warmup=timedelta(days=DEFAULT_WARMUP_DAYS)
    )
    assert errors == []
    client = connect(settings)
    report = replay(
        client, database_name(settings), plan, page_rows=settings.backtest_page_rows
    ).report
    assert report.events == 3000, report
    assert report.requested > 0, report
    assert shown == [line.rstrip() for line in table(report)]
    assert plan.start == end - timedelta(days=7)

    # A person replaces the file's text: select it all, then type (clear() bypasses React).
    editor = browser.find_element(By.ID, "marketing-backtest-text")
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys(Keys.DELETE)
    editor.send_keys(BAD)
    WebDriverWait(browser, WAIT_S).until(lambda d: editor.get_attribute("value") == BAD)
    browser.find_element(By.ID, "marketing-backtest-run").click()
    with pytest.raises(RuleConfigError) as refused:
        rule_from_text(BAD, edited.name)
    wait_for_text(browser, "marketing-backtest-error", str(refused.value))
    assert "Traceback" not in browser.page_source

    # Starting from an enabled rule puts its file's text in the editor.
    browser.find_element(By.ID, "marketing-backtest-start").click()
    search = WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ".dash-dropdown-content .dash-dropdown-search")
    )
    search.send_keys(SHIPPED.name)
    search.send_keys(Keys.ENTER)
    WebDriverWait(browser, WAIT_S).until(lambda d: editor.get_attribute("value") == shipped)
    name = browser.find_element(By.ID, "marketing-backtest-name").get_attribute("value")
    assert name == SHIPPED.name
