"""The simulator's halls follow the catalogue on the real stack: a web function and an IVR item
opened and a web function and a kiosk service retired through the CLI, then ``channelhub
simulate --live`` against the real broker, the worker and the sink into ClickHouse. The opened
ones get traffic, and the retired ones are counted as unmet demand by the catalogue page's
query, exactly as a recount of what the simulator produced says."""

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

import schemas
from channelhub.catalogue import store
from channelhub.catalogue.seed import seed
from channelhub.platform.health import tcp_open
from dashboards.queries.catalogue import unmet
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect
from tests.catalogue.test_cli import OPENING, RETIRING, _ok, _request_id
from tests.fixtures.cli import cli_ok
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_until_settled
from tests.ingest.test_producer import consume_all

pytestmark = pytest.mark.integration

EVENTS = 30_000

#: How ClickHouse sees a use: the event type and the attribute that names what was used.
USES = """
SELECT visitParamExtractString(attributes, %(field)s) AS name, count(), uniqExact(event_id)
FROM events WHERE event_type = %(type)s GROUP BY name
"""


def _open(settings: Settings, service: str, *entry: str) -> None:
    opening = _request_id(_ok(settings, "request-open", service, *entry, "--by", "marketing"))
    for step, who in OPENING:
        _ok(settings, "step", opening, step, "--by", who)


def _retire(settings: Settings, service: str, channel: str) -> None:
    retiring = _request_id(
        _ok(settings, "request-retire", service, "--channel", channel, "--by", "billing")
    )
    for step, who in RETIRING:
        _ok(settings, "step", retiring, step, "--by", who)


def _recount(
    events: list[Any], event_type: str, field: str, name: str, since: datetime | None = None
) -> tuple[int, int]:
    """Events of ``event_type`` whose ``field`` is ``name``, from ``since`` on (to the second,
    as the query compares), and the distinct subscribers who sent them."""
    found = [
        e for e in events
        if schemas.event_type_of(e) == event_type
        and getattr(e.attributes, field) == name
        and (since is None or int(e.occurred_at.timestamp()) >= int(since.timestamp()))
    ]  # fmt: skip
    return len({e.event_id for e in found}), len({e.msisdn for e in found})


def test_the_live_simulator_uses_what_was_opened_and_asks_in_vain_for_what_was_retired(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    migrations.migrate(settings)
    seed(settings)
    _open(settings, "query.top_up", "--web", "bill.top_up")
    _open(settings, "query.data_balance", "--ivr", "1-9")
    _retire(settings, "query.monthly_bill", "web")  # the web hall's bill.monthly
    _retire(settings, "bill.print", "kiosk")
    retired = store.read_topic(settings).catalogue.retired()
    assert {(r.channel, r.slot) for r in retired} == {
        ("web", "bill.monthly"),
        ("kiosk", "bill.print"),
    }
    start_service("worker", "streams", settings,
                  health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120)  # fmt: skip
    start_service("sink", "sinks", settings)

    said = cli_ok(
        settings, "simulate", "--live", "--events", str(EVENTS), "--rate", "1000",
        "--seed", "17", "--subscribers", "20000",
    )  # fmt: skip
    summary = json.loads(said.strip().splitlines()[-1])
    assert summary["events"] == EVENTS
    produced = consume_all(settings.kafka_bootstrap, settings.topic_raw, EVENTS)
    checked = [schemas.validate(r.value) for r in produced]
    events = [e for e in checked if not isinstance(e, schemas.Rejection)]
    assert len(events) == len(checked) == EVENTS
    wait_until_settled(settings)

    end = max(e.occurred_at for e in events) + timedelta(seconds=1)
    client = connect(settings)
    try:
        counted = {(u.channel, u.slot): u for u in unmet(client, retired, end)}
        used = {
            name: (uses, ids)
            for name, uses, ids in client.execute(
                USES, {"field": "function", "type": "web.function_used"}
            )
        }
        menu = {
            keys: uses
            for keys, uses, _ in client.execute(
                USES, {"field": "key_path", "type": "ivr.menu_selected"}
            )
        }
        kiosk_done = client.execute(
            "SELECT countIf(visitParamExtractBool(attributes, 'success')) FROM events "
            "WHERE event_type = 'kiosk.service_completed' "
            "AND visitParamExtractString(attributes, 'service') = 'bill.print'"
        )
    finally:
        client.disconnect()

    # The opened ones get traffic: exactly what the simulator produced, and some.
    top_up, _ = _recount(events, "web.function_used", "function", "bill.top_up")
    assert top_up > 0
    assert used["bill.top_up"] == (top_up, top_up)
    pressed, _ = _recount(events, "ivr.menu_selected", "key_path", "1-9")
    assert pressed > 0
    assert menu["1-9"] == pressed

    # The retired ones are still asked for, counted as unmet demand since the retirement.
    for r, event_type, field in (
        (next(r for r in retired if r.channel == "web"), "web.function_unavailable", "function"),
        (next(r for r in retired if r.channel == "kiosk"), "kiosk.service_completed", "service"),
    ):
        expected = _recount(events, event_type, field, r.slot, r.at)
        assert expected[0] > 0, r.slot
        found = counted[(r.channel, r.slot)]
        assert (found.requests, found.people) == expected
    assert kiosk_done == [(0,)]  # a retired kiosk service is never completed
