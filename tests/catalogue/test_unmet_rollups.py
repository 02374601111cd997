"""The unmet demand read from the aggregate tables (:mod:`sinks.tables.demand_rollups`) and the
seconds at its edges answers exactly as the query on ``events`` alone it replaced, kept here as
the reference, on the local 18.16 server and on the current engine.

Requests fall on and beside hour, minute and second edges around one hour; retirements and
ends fall on an hour, on a minute, inside a minute, in one minute together, and in the wrong
order. The tables hold the same whether the materialized views, the migration's fill or both
filled them (a fill run again adds nothing), and they keep only the SMS texts shaped as a code
or a keyword: no number past a code's eight digits.
"""

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboards.queries import catalogue
from kernel.settings import Settings
from orchestration.catalogue import Retired
from schemas.catalogue import IvrItem, KioskService, SmsHallCode, WapFunction, WebFunction
from sinks import migrations
from sinks.client import connect
from sinks.tables import events
from sinks.tables.demand_rollups import DEMAND_PER_HOUR, DEMAND_PER_MINUTE, LEVELS
from tests.fixtures.current_engine import CurrentEngine

HOUR = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)

#: The panel's query before the aggregate tables: every request on ``events``.
REFERENCE = """
SELECT arrayElement(%(owners)s, indexOf(%(keys)s, key)) AS owner,
       uniqExact(event_id) AS requests, uniqExact(subscriber) AS people
FROM (
    SELECT event_id, subscriber, occurred_at,
           concat(channel, ' ', multiIf(
               event_type = 'ivr.menu_selected', visitParamExtractString(attributes, 'key_path'),
               event_type = 'sms.message_received',
                   lowerUTF8(visitParamExtractString(attributes, 'text')),
               event_type = 'kiosk.service_completed',
                   visitParamExtractString(attributes, 'service'),
               visitParamExtractString(attributes, 'function'))) AS key
    FROM events
    WHERE event_type IN ('ivr.menu_selected', 'sms.message_received',
                         'web.function_unavailable', 'wap.function_unavailable',
                         'kiosk.service_completed')
      AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(end)s)
      AND (event_type != 'sms.message_received'
           OR visitParamExtractString(attributes, 'match_kind') = 'unknown')
)
WHERE indexOf(%(keys)s, key) > 0
  AND toUInt32(occurred_at) >= arrayElement(%(since)s, indexOf(%(keys)s, key))
GROUP BY owner
"""

SIXTEEN = "积分查询话费余额流量套餐短信业务办理取消开通"  # a keyword of 16 characters at most
TEXTS = [
    "0103", "JF", "jf", "积分", "查积分", "jf积分", "0101", "12345678", "123456789",
    "13800138000", "j f", "\uff2a\uff26", SIXTEEN[:16], SIXTEEN[:17], "话费", "",
]  # fmt: skip
KINDS: list[tuple[str, str, list[str]]] = [
    ("ivr.menu_selected", "key_path", ["1-1", "1-2"]),
    ("sms.message_received", "text", TEXTS),
    ("web.function_used", "function", ["points.query", "bill.realtime"]),  # a use is met
    ("web.function_unavailable", "function", ["points.query", "bill.realtime"]),
    ("wap.function_unavailable", "function", ["points.query"]),
    ("kiosk.service_completed", "service", ["bill.print", "query.points"]),
]


def _retired(at: datetime, other: datetime) -> list[Retired]:
    return [
        Retired(entry=IvrItem(keys="1-1"), service="query.realtime_charges", at=at),
        Retired(entry=SmsHallCode(code="0103", keywords=("jf", "积分")), service="query.points",
                at=other),
        Retired(entry=SmsHallCode(code="12345678", keywords=(SIXTEEN[:16], "jf")),
                service="query.other", at=at),
        Retired(entry=WebFunction(function="points.query"), service="query.points", at=other),
        Retired(entry=WapFunction(function="points.query"), service="query.points", at=at),
        Retired(entry=KioskService(function="bill.print"), service="bill.print", at=other),
    ]  # fmt: skip


#: (retired at, other entries retired at, end), around :data:`HOUR`.
CASES = [
    (HOUR, HOUR - timedelta(hours=1), HOUR + timedelta(hours=2)),  # whole hours
    (HOUR + timedelta(minutes=17), HOUR - timedelta(minutes=3), HOUR + timedelta(hours=1)),
    (HOUR + timedelta(minutes=17, seconds=23), HOUR - timedelta(seconds=1),
     HOUR + timedelta(hours=1, minutes=29, seconds=10)),  # inside minutes
    (HOUR + timedelta(seconds=5), HOUR + timedelta(seconds=50), HOUR + timedelta(seconds=55)),
    (HOUR - timedelta(minutes=59, seconds=59), HOUR + timedelta(minutes=1),
     HOUR + timedelta(minutes=1, seconds=1)),
    (HOUR + timedelta(hours=3), HOUR, HOUR + timedelta(minutes=30)),  # retired after the end
]  # fmt: skip


def _rows(seed: int, n: int) -> list[tuple[Any, ...]]:
    """``events`` rows of requests around :data:`HOUR`, most on or beside an edge of an hour,
    a minute or a second; some ids twice, as an unmerged replay."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    made = []
    for i in range(n):
        event_type, field, values = rng.choice(KINDS)
        attributes: dict[str, object] = {field: rng.choice(values)}
        if event_type == "sms.message_received":
            attributes["match_kind"] = rng.choice(["unknown", "unknown", "exact", "fuzzy"])
        edge = HOUR + timedelta(hours=rng.randint(-2, 2), minutes=rng.choice([0, 1, 17, 29, 59]))
        when = edge + timedelta(seconds=rng.choice([-61, -1, 0, 0, 1, 5, 23, 50, 59, 60]))
        made.append(
            (str(uuid.uuid4()), event_type, event_type.partition(".")[0], when,
             rng.randrange(1000), f"p{rng.randrange(9)}", "s1", "changsha", "gotone",
             msgspec.json.encode(attributes).decode(), 1, 0, i, now)
        )  # fmt: skip
    return made + rng.sample(made, n // 10)


def _reference(client: Any, retired: list[Retired], end: datetime) -> list[catalogue.Unmet]:
    """What the reference query answers, as :func:`catalogue.unmet` returns it."""
    keys: list[str] = []
    owners: list[int] = []
    since: list[int] = []
    for i, entry in enumerate(retired):
        for key in catalogue._keys(entry):
            if key not in keys:
                keys += [key]
                owners += [i]
                since += [int(entry.at.timestamp())]
    params = {"keys": keys, "owners": owners, "since": since, "start": min(since),
              "end": int(end.timestamp())}  # fmt: skip
    counts = {int(o): (int(r), int(p)) for o, r, p in client.execute(REFERENCE, params)}
    found = [
        catalogue.Unmet(r.service, r.channel, r.slot, r.at, *counts.get(i, (0, 0)))
        for i, r in enumerate(retired)
    ]
    return sorted(found, key=lambda u: (-u.requests, u.channel, u.slot))


def _answers(client: Any) -> Iterator[tuple[Any, ...]]:
    for at, other, end in CASES:
        retired = _retired(at, other)
        yield (at, other, end, catalogue.unmet(client, retired, end),
               _reference(client, retired, end))  # fmt: skip


def _fill(client: Any, db: str) -> None:
    for view in (DEMAND_PER_HOUR, DEMAND_PER_MINUTE):
        for fill in view.fill_statements:
            for statement in migrations.rendered(None, db, fill):
                client.execute(statement)


def _check(client: Any, db: str) -> None:
    """Every case answers as the reference, with the views' rows, with the fill's on top,
    and with the fill's alone."""
    answered = 0
    for filled in ("by the views", "by the views and the fill", "by the fill"):
        for at, other, end, got, expected in _answers(client):
            assert got == expected, (filled, at, other, end)
            answered += sum(u.requests for u in got)
        if filled == "by the views":
            _fill(client, db)  # over the views' rows: adds nothing
        elif filled == "by the views and the fill":
            for table, *_ in LEVELS:
                client.execute(f"TRUNCATE TABLE {db}.{table}")
            _fill(client, db)
    assert answered > 0
    keys = [k for table, *_ in LEVELS for (k,) in client.execute(f"SELECT key FROM {db}.{table}")]
    assert {"sms 0103", "sms 12345678", f"sms {SIXTEEN[:16]}", "sms jf"} <= set(keys)
    assert not {"sms 123456789", "sms 13800138000", f"sms {SIXTEEN[:17]}", "sms j f"} & set(keys)


@pytest.mark.integration
def test_the_rollups_answer_as_events_alone_on_the_local_server(
    settings: Settings, clickhouse_db: str
) -> None:
    migrations.migrate(settings)
    client = connect(settings)
    try:
        client.execute(events.TABLE.insert.format(db=clickhouse_db), _rows(5, 3000))
        _check(client, clickhouse_db)
    finally:
        client.disconnect()


@pytest.mark.integration
def test_the_rollups_answer_as_events_alone_on_the_current_engine(tmp_path: Path) -> None:
    engine = CurrentEngine(tmp_path / "chdb")
    for name in migrations.available():
        for statement in migrations.operations(name):
            for part in migrations.rendered(None, engine.database, statement):
                engine.execute(part)
    rows = _rows(6, 3000)
    for start in range(0, len(rows), 1000):
        engine.execute(events.TABLE.insert.format(db=engine.database), rows[start : start + 1000])
    _check(engine, engine.database)


#: Whole seconds from 2020 to 2030.
seconds = st.integers(1_577_836_800, 1_893_456_000)


@given(seconds, st.integers(0, 3 * 86_400))
def test_the_spans_cover_a_range_exactly_from_the_widest_buckets(low: int, length: int) -> None:
    lengths = [seconds for *_, seconds in LEVELS]
    spans = catalogue.cover(low, low + length, lengths)
    covered = low
    for level, since, until in spans:
        assert since == covered  # no gap, no overlap
        assert since < until
        if level is None:
            assert until - since < 2 * lengths[-1]  # seconds only at the edges
            assert not any(  # no whole minute left raw
                t % lengths[-1] == 0 and t + lengths[-1] <= until for t in range(since, until)
            )
        else:
            assert since % lengths[level] == 0
            assert until % lengths[level] == 0
            if level:  # no whole bucket of the wider level left to this one
                wider = lengths[level - 1]
                assert -(-since // wider) * wider + wider > until
        covered = until
    assert covered == low + length
    assert [level for level, *_ in spans].count(0) <= 1
