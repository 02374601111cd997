"""The deep-dive pages in real headless Chromium: each loads with data, and its headline
numbers equal counts made in Python from the inserted events."""

from datetime import UTC, datetime, timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from dashboards.filters import preset_range
from kernel.settings import Settings
from tests.dashboards.browser import sign_in_as, table_rows, text_of, wait_for_text
from tests.dashboards.deep_dive_data import (
    Event,
    ending_now,
    event,
    insert,
    insert_calls,
    insert_contacts,
    occurred,
    simulated,
)
from tests.dashboards.test_deep_dive_ivr import calls, contained
from tests.dashboards.test_volume_page import serve
from tests.fixtures.services import StartService

pytestmark = pytest.mark.browser


def count(known: list[Event], event_type: str, start: datetime, end: datetime) -> str:
    return f"{sum(e['event_type'] == event_type and start <= occurred(e) < end for e in known):,}"


#: An unknown SMS text that would be bold, a link and an extra column if it were rendered.
HOSTILE = "${jndi:ldap://x} | <b>bold</b> **strong** [prize](http://evil.example) `code`\n# heading"


def hostile_texts(at: datetime) -> list[Event]:
    """:data:`HOSTILE` from many subscribers, so it heads the unknown texts."""
    return [
        event(
            "sms.message_received",
            at,
            msisdn=f"1380000{n:04d}",
            session=f"hostile-{n}",
            attributes={"text": HOSTILE, "matched_code": None, "match_kind": "unknown"},
        )
        for n in range(300)
    ]


def test_every_deep_dive_page_loads_with_its_numbers(
    migrated: Settings, start_service: StartService, browser: WebDriver
) -> None:
    known = [
        *simulated(20_000, seed=5, start=ending_now(20_000, seed=5)),
        *hostile_texts(datetime.now(UTC) - timedelta(hours=1)),
    ]
    insert(migrated, known)
    insert_contacts(migrated, known)
    insert_calls(migrated, known)
    start, end = preset_range("24h", datetime.now(UTC))  # every page's default range
    url = serve(start_service, migrated)

    sign_in_as(browser, url + "ivr")
    found = calls(known, start, end)
    self_service, silent = contained(known, start, end)
    wait_for_text(browser, "ivr-total-calls", f"{len(found):,}")
    assert text_of(browser, "ivr-total-self-service") == f"{len(self_service):,}"
    assert text_of(browser, "ivr-total-contained") == f"{len(silent):,}"
    assert text_of(browser, "ivr-total-zero") == f"{sum(c.zero for c in found):,}"
    assert "Asia/Shanghai (UTC+8)" in text_of(browser, "ivr-range-label")
    assert len(table_rows(browser, "ivr-funnel")) == len(
        {s for c in found for s in c.steps or {""}}
    )

    browser.get(url + "sms-hall")
    wait_for_text(browser, "sms-total-texts", count(known, "sms.message_received", start, end))
    # the most frequent unknown text is the hostile one, shown as the literal text it is
    assert table_rows(browser, "sms-unknown")[0][0] == " ".join(HOSTILE.split())
    assert not browser.find_elements(By.CSS_SELECTOR, "#sms-unknown b, #sms-unknown a")

    browser.get(url + "cross-channel")
    began: dict[str, datetime] = {}
    for e in known:
        if e["msisdn"]:
            began[e["session_id"]] = min(began.get(e["session_id"], occurred(e)), occurred(e))
    sessions = [s for s, at in began.items() if start <= at < end]
    wait_for_text(browser, "cross-total-contacts", f"{len(sessions):,}")

    browser.get(url + "online")
    wait_for_text(browser, "online-total-web", count(known, "web.function_used", start, end))
    assert text_of(browser, "online-total-wap") == count(known, "wap.function_used", start, end)

    browser.get(url + "kiosks")
    wait_for_text(
        browser, "kiosk-total-sessions", count(known, "kiosk.session_started", start, end)
    )


def test_an_empty_database_says_why_a_deep_dive_is_empty(
    migrated: Settings, start_service: StartService, browser: WebDriver
) -> None:
    sign_in_as(browser, serve(start_service, migrated) + "ivr")
    message = wait_for_text(browser, "ivr-status", lambda text: bool(text))
    assert message.startswith("No IVR calls in ClickHouse yet")
    assert text_of(browser, "ivr-total-calls") == "—"
