"""The one page refresh path with nothing behind it: a control that does not check out and an
unreachable ClickHouse each become the page's blank with a message, in the same words on every
page; otherwise the view gets what was fetched."""

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import flask
import pytest
from clickhouse_driver import Client

from dashboards import refresh
from dashboards.db import SETTINGS_KEY
from dashboards.filters import FilterError
from kernel.settings import Settings
from tests.fixtures.services import free_port, local_settings


@pytest.fixture
def nowhere() -> Settings:
    return local_settings(clickhouse_port=free_port())


@pytest.fixture
def request_context(nowhere: Settings) -> Iterator[None]:
    server = flask.Flask(__name__)
    server.config[SETTINGS_KEY] = nowhere
    with server.test_request_context():
        yield


def blank(message: str, now: datetime, status_class: str) -> dict[str, Any]:
    return {"blank": message, "status_class": status_class, "now": now}


def refuse(_now: datetime) -> str:
    raise FilterError("time range '24h; DROP' is not one of 1h, 6h")


def bad_span(_now: datetime) -> str:
    raise ValueError("window '16' is not one of 5, 15, 60 minutes")


def never(_client: Client, _checked: Any, _now: datetime) -> Any:
    raise AssertionError("fetched although the controls did not check out")


def query(client: Client, checked: str, _now: datetime) -> Any:
    return client.execute(f"SELECT '{checked}'")


def test_a_control_that_does_not_check_out_is_a_message_before_any_query(
    request_context: None,
) -> None:
    shown = refresh.refresh("test", refuse, never, lambda *_: {}, blank)
    assert shown["blank"] == "Check the filters: time range '24h; DROP' is not one of 1h, 6h"
    assert shown["status_class"] == refresh.ERROR
    queue = refresh.refresh(
        "test", bad_span, never, lambda *_: {}, blank, invalid=(ValueError,), controls="controls"
    )
    assert queue["blank"] == "Check the controls: window '16' is not one of 5, 15, 60 minutes"


def test_an_unreachable_clickhouse_is_a_message_and_a_log_line(
    request_context: None, nowhere: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="dashboards.refresh"):
        shown = refresh.refresh("test", lambda _now: "x", query, lambda *_: {}, blank)
    assert f"cannot query ClickHouse at 127.0.0.1:{nowhere.clickhouse_port}" in shown["blank"]
    assert shown["blank"].endswith(". Is ClickHouse running (`channelhub up`)?")
    assert shown["status_class"] == refresh.ERROR
    logged = [r.getMessage() for r in caplog.records if r.name == "dashboards.refresh"]
    assert [line.split(":")[0] for line in logged] == ["test page"]


def test_the_view_gets_what_was_checked_and_fetched(request_context: None) -> None:
    shown = refresh.refresh(
        "test",
        lambda now: now.year,
        lambda _client, year, _now: [year, year + 1],
        lambda year, found, now: {"view": (year, found, now.year)},
        blank,
    )
    year = shown["view"][0]
    assert shown == {"view": (year, [year, year + 1], year)}
