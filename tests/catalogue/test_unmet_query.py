"""The unmet demand query against a real ClickHouse, every count recomputed in plain Python from
the events inserted: only requests for the retired entry, from its retirement on, SMS texts
the hall matched to nothing that are the code or a keyword, each event once."""

import random
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from dashboards.queries import catalogue
from kernel.settings import Settings
from orchestration.catalogue import Retired
from schemas.catalogue import IvrItem, KioskService, SmsHallCode, WebFunction
from sinks import migrations
from sinks.client import connect
from sinks.tables import events

pytestmark = pytest.mark.integration

RETIRED_AT = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
RETIRED = [
    Retired(entry=IvrItem(keys="1-1"), service="query.realtime_charges", at=RETIRED_AT),
    Retired(entry=SmsHallCode(code="0103", keywords=("jf", "积分")), service="query.points",
            at=RETIRED_AT),
    Retired(entry=WebFunction(function="points.query"), service="query.points", at=RETIRED_AT),
    Retired(entry=KioskService(function="bill.print"), service="bill.print",
            at=RETIRED_AT + timedelta(hours=1)),
]  # fmt: skip
KINDS: list[tuple[str, str, list[str]]] = [
    ("ivr.menu_selected", "key_path", ["1-1", "1-2"]),
    ("sms.message_received", "text", ["0103", "JF", "jf", "积分", "查积分", "0101"]),
    ("web.function_used", "function", ["points.query", "bill.realtime"]),  # a use is met
    ("web.function_unavailable", "function", ["points.query", "bill.realtime"]),
    ("wap.function_unavailable", "function", ["points.query"]),
    ("kiosk.service_completed", "service", ["bill.print", "query.points"]),
]


def _events(seed: int, n: int) -> list[tuple[str, str, datetime, str, dict[str, object]]]:
    """(event id, type, when, subscriber, attributes); some ids twice, as an unmerged replay."""
    rng = random.Random(seed)
    made = []
    for _ in range(n):
        event_type, field, values = rng.choice(KINDS)
        attributes: dict[str, object] = {field: rng.choice(values)}
        if event_type == "sms.message_received":
            attributes["match_kind"] = rng.choice(["unknown", "exact", "fuzzy"])
        when = RETIRED_AT + timedelta(seconds=rng.uniform(-7200, 7200))
        made.append((str(uuid.uuid4()), event_type, when, f"p{rng.randrange(6)}", attributes))
    return made + rng.sample(made, n // 10)


def _expected(made: list[tuple[str, str, datetime, str, dict[str, object]]]) -> list[tuple]:
    found = []
    for r in RETIRED:
        entry, ids, people = r.entry, set(), set()
        for event_id, event_type, when, who, attributes in made:
            if when.replace(microsecond=0) < r.at:
                continue
            if isinstance(entry, IvrItem):
                hit = event_type == "ivr.menu_selected" and attributes["key_path"] == entry.keys
            elif isinstance(entry, SmsHallCode):
                hit = (
                    event_type == "sms.message_received"
                    and attributes["match_kind"] == "unknown"
                    and str(attributes["text"]).lower() in {entry.code, *entry.keywords}
                )
            elif isinstance(entry, WebFunction):
                hit = (
                    event_type == "web.function_unavailable"
                    and attributes["function"] == entry.slot
                )
            else:
                hit = (
                    event_type == "kiosk.service_completed" and attributes["service"] == entry.slot
                )
            if hit:
                ids.add(event_id)
                people.add(who)
        found.append((r.service, r.channel, r.slot, len(ids), len(people)))
    return sorted(found, key=lambda u: (-u[3], u[1], u[2]))


@pytest.mark.parametrize("seed", [1, 2])
def test_unmet_demand_is_what_arrived_for_each_retired_entry_since_it_retired(
    settings: Settings, clickhouse_db: str, seed: int
) -> None:
    migrations.migrate(settings)
    made = _events(seed, 400)
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        (event_id, event_type, event_type.partition(".")[0], when.replace(microsecond=0),
         when.microsecond // 1000, who, "s1", "changsha", "gotone",
         msgspec.json.encode(attributes).decode(), 1, 0, i, now)
        for i, (event_id, event_type, when, who, attributes) in enumerate(made)
    ]  # fmt: skip
    client = connect(settings)
    try:
        client.execute(events.TABLE.insert.format(db=clickhouse_db), rows)
        got = catalogue.unmet(client, RETIRED, RETIRED_AT + timedelta(hours=3))
        assert catalogue.unmet(client, [], RETIRED_AT) == []
    finally:
        client.disconnect()
    assert [(u.service, u.channel, u.slot, u.requests, u.people) for u in got] == _expected(made)
    assert all(u.requests for u in got)  # every entry had some
