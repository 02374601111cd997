"""The deep-dive pages' callbacks with no ClickHouse behind them: a bad range is refused with a
message before any query (a query would have reported the unreachable server instead), and an
unreachable server is a message, not a traceback."""

import importlib
from types import ModuleType

import dash
import pytest

from dashboards.app import create_app
from kernel.settings import Settings
from tests.fixtures.services import free_port, local_settings

PAGES = ("ivr", "sms_hall", "cross_channel", "online", "kiosks")


@pytest.fixture(scope="module")
def nowhere(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return local_settings(
        state_dir=tmp_path_factory.mktemp("dashboard"), clickhouse_port=free_port()
    )


@pytest.fixture(scope="module")
def app(nowhere: Settings) -> dash.Dash:
    """The real app, which imports every page; nothing listens on its ClickHouse port."""
    return create_app(nowhere)


def page(name: str) -> ModuleType:
    """A page module as the app imported it (importing it first would register it twice)."""
    return importlib.import_module(f"dashboards.pages.{name}")


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(
    ("preset", "start", "end", "message"),
    [
        ("24h; DROP", None, None, "time range '24h; DROP' is not one of"),
        ("custom", "'; DROP TABLE events; --", "2026-05-01 09:00", "is not a time like"),
        ("custom", "1999-12-31 00:00", "2000-01-02 00:00", "outside 2000-2100"),
        ("custom", "2026-01-01 00:00", "2026-06-01 00:00", "at most 92 days"),
        ("custom", "2026-05-01 09:00", "2026-05-01 08:00", "must be after start"),
    ],
)
def test_a_bad_range_is_refused_before_any_query(
    app: dash.Dash, name: str, preset: str, start: str | None, end: str | None, message: str
) -> None:
    with app.server.test_request_context():
        shown = page(name).refresh(None, preset=preset, start_text=start, end_text=end)
    assert shown["status"].startswith("Check the filters: ")
    assert message in shown["status"]
    assert shown["status_class"] == "status error"
    assert set(shown["totals"].values()) == {"—"}


@pytest.mark.parametrize("name", PAGES)
def test_an_unreachable_clickhouse_is_a_message(
    app: dash.Dash, nowhere: Settings, name: str
) -> None:
    with app.server.test_request_context():
        shown = page(name).refresh(None, preset="24h", start_text=None, end_text=None)
    assert f"cannot query ClickHouse at 127.0.0.1:{nowhere.clickhouse_port}" in shown["status"]
    assert shown["status"].endswith("Is ClickHouse running (`channelhub up`)?")
    assert set(shown["totals"].values()) == {"—"}
