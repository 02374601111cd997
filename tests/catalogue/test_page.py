"""The ``/catalogue`` page in real headless Chromium, on the real broker, worker, sink and
ClickHouse: a service retired through the CLI has its unmet demand counted (texts the SMS hall
no longer answers, from its retirement on), a signed-in reviewer takes a request's next step
by clicking, someone without the role cannot, a retirement is asked for from the page, and
once the code is open the SMS hall's page labels the texts it matched with its service."""

from datetime import UTC, datetime
from urllib.parse import urlsplit

import msgspec
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from channelhub.catalogue import store
from channelhub.catalogue.seed import seed
from channelhub.ingest.producer import Producer
from channelhub.platform.health import http_ok, tcp_open
from dashboards.queries import service_usage
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect
from tests.catalogue.test_cli import OPENING, RETIRING, _ok, _request_id
from tests.dashboards.browser import WAIT_S, browser, sign_in_as, wait_for_text
from tests.dashboards.test_marketing_page import _pick
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_for
from tests.orchestration.events import make

pytestmark = pytest.mark.browser

__all__ = ["browser"]  # the fixture


def _texts(
    settings: Settings, sent: list[tuple[str, str, str | None]], matched: str | None = None
) -> None:
    """SMS to 10086 as the hall logged them: (number, text, when; None: long ago), matched to
    nothing or to the code ``matched``."""
    kind = "exact" if matched else "unknown"
    with Producer(settings.kafka_bootstrap, settings.topic_raw, client_id="test") as producer:
        for i, (msisdn, text, when) in enumerate(sent):
            at = {"occurred_at": when} if when else {}
            event = make(
                "sms.message_received",
                {"text": text, "matched_code": matched, "match_kind": kind},
                0, msisdn=msisdn, session_id=f"sms-{matched}-{i}", **at,
            )  # fmt: skip
            producer.send(msisdn.encode(), msgspec.json.encode(event))


def _as(browser: WebDriver, settings: Settings, user: str) -> None:
    """Sign in afresh as ``user``. The page left behind refreshes every second, and a refresh
    answered after the login form was served sets the old session's cookie again, so the
    form's token no longer matches ("The form expired"): then the form, served again once
    every request of the old page has ended, is filled in again."""
    browser.get(f"{settings.dashboard_url}login")
    browser.delete_all_cookies()
    browser.get(f"{settings.dashboard_url}login?next=/catalogue")
    for _ in range(3):
        browser.find_element(By.ID, "login-username").send_keys(user)
        browser.find_element(By.ID, "login-password").send_keys(f"dev-{user}")
        browser.find_element(By.ID, "login-submit").click()
        WebDriverWait(browser, WAIT_S).until(
            lambda d: urlsplit(d.current_url).path == "/catalogue"
            or d.find_elements(By.ID, "login-error")
        )
        if urlsplit(browser.current_url).path == "/catalogue":
            return
        assert "The form expired" in browser.find_element(By.ID, "login-error").text
    raise AssertionError(f"{user} could not sign in three times in a row")


def test_unmet_demand_and_steps_taken_on_the_page(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    browser: WebDriver,
) -> None:  # fmt: skip
    settings = settings.model_copy(update={"dashboard_refresh_seconds": 1.0})
    migrations.migrate(settings)
    seed(settings)
    start_service("worker", "streams", settings, "--stage", "validate",
                  health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120)  # fmt: skip
    start_service("sink", "sinks", settings)
    retiring = _request_id(
        _ok(settings, "request-retire", "query.points", "--channel", "sms", "--by", "billing")
    )
    for step, who in RETIRING:
        _ok(settings, "step", retiring, step, "--by", who)
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    _texts(settings, [
        ("13800000001", "0103", now), ("13800000001", "0103", now), ("13800000002", "JF", now),
        ("13800000003", "0103", None),  # before the retirement: the hall still answered then
        ("13800000004", "0101", now),  # open: not unmet
    ])  # fmt: skip
    client = connect(settings)
    wait_for(
        lambda: client.execute("SELECT count() FROM events")[0][0] == 5, "the texts in ClickHouse"
    )

    start_service("dashboard", "dashboards", settings, health=http_ok(settings.dashboard_url))
    sign_in_as(browser, f"{settings.dashboard_url}catalogue", "analyst")
    row = wait_for_text(browser, "catalogue-unmet-sms-0103", lambda t: "query.points" in t)
    assert row.split()[-2:] == ["3", "2"]  # three requests from two people since it retired
    change = wait_for_text(browser, f"catalogue-change-{retiring[:8]}", lambda t: "retired" in t)
    assert change.split()[:2] == ["query.points", "retired"]
    assert change.count("·") == 2 * service_usage.WEEKS  # uses · agent contacts, per week
    services = wait_for_text(browser, "catalogue-services", lambda t: "query.points" in t)
    assert "retired 0103" in services

    opening = _request_id(
        _ok(settings, "request-open", "query.top_up", "--sms", "0107", "--by", "marketing")
    )
    requests = wait_for_text(browser, "catalogue-requests", lambda t: opening[:8] in t)
    assert "marketing_reviewed" in requests
    assert "reviewer" in requests  # who may take it: not marketing, who asked

    label = f"{opening[:8]} · open query.top_up → marketing_reviewed"
    _pick(browser, "catalogue-step-request", label)
    browser.find_element(By.ID, "catalogue-step-take").click()
    refused = wait_for_text(browser, "catalogue-step-result", lambda t: t.startswith("Not taken"))
    assert "'analyst' is not in" in refused

    _as(browser, settings, "reviewer")
    _pick(browser, "catalogue-step-request", label)
    browser.find_element(By.ID, "catalogue-step-note").send_keys("fits the spring campaign")
    browser.find_element(By.ID, "catalogue-step-take").click()
    taken = "marketing_reviewed recorded for query.top_up by reviewer"
    wait_for_text(browser, "catalogue-step-result", lambda t: t.startswith(taken))
    workflow = store.find_request(store.read_topic(settings).catalogue, opening)
    assert workflow.last_step == "marketing_reviewed"
    assert workflow.steps[-1].note == "fits the spring campaign"

    _as(browser, settings, "marketing")
    _pick(browser, "catalogue-retire-service", "consult.promotions")
    browser.find_element(By.ID, "catalogue-retire").click()
    said = wait_for_text(browser, "catalogue-request-result", lambda t: t.startswith("Requested"))
    assert said.startswith("Requested to retire consult.promotions")
    WebDriverWait(browser, WAIT_S).until(
        lambda d: "consult.promotions" in d.find_element(By.ID, "catalogue-requests").text
    )
    (asked,) = [
        w for w in store.read_topic(settings).catalogue.workflows.values()
        if w.request.service == "consult.promotions"
    ]  # fmt: skip
    assert (asked.request.who, asked.next_step) == ("marketing", ("submitted", "requester"))

    # Once 0107 opens, the SMS hall's page labels the texts it matched with its service.
    for step, who in OPENING[1:]:
        _ok(settings, "step", opening, step, "--by", who)
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    _texts(settings, [("13800000005", "0107", now), ("13800000006", "0107", now)], "0107")
    wait_for(
        lambda: client.execute("SELECT count() FROM events")[0][0] == 7, "the texts in ClickHouse"
    )
    _as(browser, settings, "analyst")
    browser.get(f"{settings.dashboard_url}sms-hall")
    wait_for_text(browser, "sms-chart-commands", lambda t: "0107 · query.top_up" in t)
