"""The running nudge stage follows the catalogue without a restart, on the real broker, worker,
sink and ClickHouse: once an SMS code is retired through the CLI its hint no longer names it,
and once a way is opened for an item that had none the rules start suggesting it."""

import itertools
from collections.abc import Callable

import msgspec
import pytest
from clickhouse_driver import Client

from channelhub.catalogue.seed import seed
from channelhub.ingest.producer import Producer
from channelhub.platform.health import tcp_open
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect
from tests.catalogue.test_cli import OPENING, RETIRING, _ok, _request_id
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_for
from tests.orchestration.events import make

pytestmark = pytest.mark.integration

LONG_WAIT = "ivr.long_agent_wait"
_callers = itertools.count(1)


def _long_wait_call(settings: Settings, item: str) -> str:
    """A caller who chose ``item``, asked for an agent and waited 90 s in a busy period,
    produced to the raw topic; their number."""
    msisdn = f"1380{next(_callers):07d}"
    session = {"msisdn": msisdn, "session_id": f"call-{msisdn}"}
    events = [
        make("ivr.call_started", {"lead_in_variant": "x", "busy_period": True}, 0, **session),
        make("ivr.menu_selected", {"key_path": "1-3", "item": item}, 5, **session),
        make("ivr.agent_requested", {"key_path": "1-3-0", "topic": item}, 8, **session),
        make("ivr.queue_entered", {"queue": "general", "position": 3, "busy_period": True}, 9,
             **session),
        make("ivr.agent_answered", {"agent_id": "A0001", "wait_s": 90.0}, 99, **session),
    ]  # fmt: skip
    with Producer(settings.kafka_bootstrap, settings.topic_raw, client_id="test") as producer:
        for event in events:
            producer.send(msisdn.encode(), msgspec.json.encode(event))
    return msisdn


def _hint_for(settings: Settings, client: Client, item: str, wanted: Callable[[str], bool]) -> str:
    """Send long-wait calls about ``item`` until the stage's nudge text for one of them is
    ``wanted``: the stage re-reads the catalogue every ``rules_reload_seconds``, so the calls
    sent before it did still carry the old hint."""
    sent: list[str] = []

    def nudged() -> str | None:
        sent.append(_long_wait_call(settings, item))
        rows = client.execute(
            "SELECT text FROM nudge_requests WHERE rule_id = %(rule)s", {"rule": LONG_WAIT}
        )
        return next((text for (text,) in rows if wanted(text) and item_name in text), None)

    item_name = {"query.points": "积分", "query.top_up": "充值缴费"}[item]
    found = wait_for(nudged, f"a long-wait nudge about {item} as wanted", timeout=120, every=1.0)
    assert found is not None
    return found


def test_the_running_stage_stops_suggesting_a_retired_code_and_suggests_an_opened_way(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    settings = settings.model_copy(update={"rules_reload_seconds": 1.0})
    migrations.migrate(settings)
    seed(settings)
    start_service("worker", "streams", settings,
                  health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120)  # fmt: skip
    start_service("sink", "sinks", settings)
    client = connect(settings)

    before = _hint_for(settings, client, "query.points", lambda text: "发送0103到10086" in text)
    assert "网上营业厅" in before

    retiring = _request_id(
        _ok(settings, "request-retire", "query.points", "--channel", "sms", "--by", "billing")
    )
    for step, who in RETIRING:
        _ok(settings, "step", retiring, step, "--by", who)
    after = _hint_for(settings, client, "query.points", lambda text: "0103" not in text)
    assert "登录网上营业厅、手机营业厅" in after

    opening = _request_id(
        _ok(settings, "request-open", "query.top_up", "--sms", "0107:CZ", "--by", "marketing")
    )
    for step, who in OPENING:
        _ok(settings, "step", opening, step, "--by", who)
    opened = _hint_for(settings, client, "query.top_up", lambda text: "发送0107到10086" in text)
    assert opened.startswith("【湖南移动】")
