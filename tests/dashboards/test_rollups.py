"""The panels that read aggregate tables answer exactly as the queries on ``events`` they
replaced, on the real ClickHouse.

Simulated traffic ending now and hand-made events at the edges of minutes, five-minute blocks
and hours go in through the sink's row builder; every moved panel runs over whole-minute
ranges (inside one block, inside one hour, across hours, the pages' day and week, with and
without filters) once as it is and once with the query it replaced, kept here as the
reference. The aggregate tables also hold the same rows whether the materialized views filled
them or migration 0008's fill did, and a second fill adds nothing."""

import importlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_driver import Client

from dashboards.filters import VolumeFilter
from dashboards.queries import cross_channel, health, kiosks, online, sms_hall, volume
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect
from sinks.tables.channel_rollups import MASK, MASKED
from tests.dashboards.deep_dive_data import Event, ending_now, event, insert, simulated

pytestmark = pytest.mark.integration

ROLLUPS: tuple[str, ...] = importlib.import_module("sinks.migrations.0008_rollups").ROLLUPS
#: What the SMS-hall masks, as a ClickHouse string literal.
_MASKED = MASKED.replace("\\", "\\\\")

_MS = "toUInt64(occurred_at) * 1000 + occurred_ms"
_SINCE_START = "occurred_at >= toDateTime(%(start)s)"

#: The queries the panels ran on ``events`` (and, for the volume, on ``events_per_minute``
#: alone) before the aggregate tables, by module and name.
REFERENCES: dict[tuple[Any, str], str] = {
    (volume, "BREAKDOWN"): """
SELECT channel, prefecture, brand, sum(events) AS n
FROM events_per_minute
WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s) AND {where}
GROUP BY channel, prefecture, brand
""",
    (volume, "SERIES"): """
SELECT intDiv(toUInt32(minute) + %(offset)s, %(bucket)s) * %(bucket)s - %(offset)s AS bucket,
       channel,
       sum(events) AS n
FROM events_per_minute
WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s) AND {where}
GROUP BY bucket, channel
""",
    (health, "INGESTED"): """
SELECT count() FROM events
WHERE ingested_at >= toDateTime(%(start)s) AND ingested_at < toDateTime(%(end)s)
""",
    (health, "NEWEST_PER_PARTITION"): """
SELECT kafka_partition, toStartOfMinute(max(occurred_at)) FROM events
WHERE occurred_at >= toDateTime(%(since)s)
GROUP BY kafka_partition
""",
    (sms_hall, "MESSAGES"): """
SELECT visitParamExtractString(attributes, 'match_kind') AS kind,
       visitParamExtractString(attributes, 'matched_code') AS code,
       count() AS n
FROM events FINAL
WHERE channel = 'sms' AND event_type = 'sms.message_received'
  AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(end)s)
GROUP BY kind, code
""",
    (sms_hall, "UNKNOWN_TEXTS"): f"""
SELECT replaceRegexpAll(visitParamExtractString(attributes, 'text'), '{_MASKED}', '{MASK}')
           AS masked,
       count() AS n,
       uniqExact(subscriber) AS senders
FROM events FINAL
WHERE channel = 'sms' AND event_type = 'sms.message_received'
  AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(end)s)
  AND visitParamExtractString(attributes, 'match_kind') = 'unknown'
GROUP BY masked
ORDER BY n DESC, masked
LIMIT %(limit)s
""",
    (cross_channel, "SELF_SERVICE"): """
SELECT channel,
       multiIf(event_type IN ('web.function_used', 'wap.function_used'),
               visitParamExtractString(attributes, 'function'),
               event_type = 'ivr.self_service_completed',
               visitParamExtractString(attributes, 'item'),
               event_type = 'agent.request_handled',
               visitParamExtractString(attributes, 'topic'),
               visitParamExtractString(attributes, 'service')) AS name,
       count() AS n
FROM events FINAL
WHERE event_type IN ('ivr.self_service_completed', 'sms.service_completed',
                     'web.function_used', 'wap.function_used', 'kiosk.service_completed',
                     'agent.request_handled')
  AND (event_type IN ('web.function_used', 'wap.function_used', 'agent.request_handled')
       OR visitParamExtractBool(attributes, 'success'))
  AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(end)s)
GROUP BY channel, name
""",
    (kiosks, "TERMINALS"): f"""
SELECT visitParamExtractString(attributes, 'terminal_id') AS terminal,
       argMax(prefecture, {_MS}) AS terminal_prefecture,
       countIf(event_type = 'kiosk.session_started' AND {_SINCE_START}) AS sessions,
       countIf(event_type = 'kiosk.payment_completed' AND {_SINCE_START}) AS payments,
       sumIf(visitParamExtractUInt(attributes, 'amount_fen'),
             event_type = 'kiosk.payment_completed' AND {_SINCE_START}) AS paid_fen,
       countIf(event_type = 'kiosk.terminal_fault' AND {_SINCE_START}) AS faults,
       argMaxIf(visitParamExtractString(attributes, 'fault_code'), {_MS},
                event_type = 'kiosk.terminal_fault' AND {_SINCE_START}) AS last_fault,
       max(occurred_at) AS last_event
FROM events FINAL
WHERE channel = 'kiosk'
  AND occurred_at >= toDateTime(%(known_from)s) AND occurred_at < toDateTime(%(end)s)
GROUP BY terminal
""",
    (online, "FUNCTIONS"): """
SELECT channel,
       visitParamExtractString(attributes, 'function') AS function,
       count() AS uses,
       uniqExact(subscriber) AS users
FROM events FINAL
WHERE channel IN ('web', 'wap') AND event_type IN ('web.function_used', 'wap.function_used')
  AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(end)s)
GROUP BY channel, function
""",
}

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def edges() -> list[Event]:
    """Events on the first and last second of minutes, five-minute blocks and hours inside
    the ranges tested, and one in the middle of each range, so every range has something
    to count at any hour of the day (the simulated traffic is thin at night)."""
    hour = NOW.replace(minute=0) - timedelta(hours=2)
    block = NOW.replace(minute=NOW.minute // 5 * 5)
    moments = [
        hour - timedelta(seconds=1), hour, hour + timedelta(minutes=59, seconds=59),
        block - timedelta(seconds=1), block, block - timedelta(minutes=5),
        NOW - timedelta(minutes=45), NOW - timedelta(minutes=45, seconds=1),
        NOW - timedelta(seconds=1),
        *(start + (end - start) / 2 for start, end in ranges()),
    ]  # fmt: skip
    made = []
    for i, at in enumerate(moments):
        msisdn = f"1380000{i:04d}"
        made += [
            event("sms.message_received", at, msisdn=msisdn, session=f"sms-edge-{i}",
                  attributes={"text": f"balance 13912345678 acct {i}000000", "match_kind":
                              "unknown", "matched_code": None}),
            event("web.function_used", at, msisdn=msisdn, session=f"web-edge-{i}",
                  attributes={"function": "bill.query"}),
            event("kiosk.service_completed", at, msisdn=msisdn, session=f"kiosk-edge-{i}",
                  attributes={"terminal_id": "K0001", "service": "query.points",
                              "success": True}),
            event("kiosk.session_started", at, msisdn=msisdn, session=f"kiosk-edge-{i}",
                  attributes={"terminal_id": f"K{9000 + i}"}),
            # i ms later, still in the same second: two moments can be the same second
            # (when NOW is on a five-minute block), and the last fault must not be a tie.
            event("kiosk.terminal_fault", at + timedelta(milliseconds=i), msisdn=None,
                  session=f"fault-edge-{i}",
                  attributes={"terminal_id": "K0001", "fault_code": f"jam-{i}",
                              "severity": "warning"}),
        ]  # fmt: skip
    return made


@pytest.fixture
def filled(migrated: Settings) -> Iterator[Client]:
    traffic = simulated(40_000, seed=17, start=ending_now(40_000, seed=17))
    insert(migrated, [*traffic, *edges()])
    client = connect(migrated)
    yield client
    client.disconnect()


def ranges() -> list[tuple[datetime, datetime]]:
    """Whole-minute ranges: inside one block of five minutes, inside one hour, across hours,
    on hours, a day and a week."""
    hour = NOW.replace(minute=0)
    return [
        (hour - timedelta(minutes=4), hour - timedelta(minutes=2)),
        (hour - timedelta(hours=2, minutes=-10), hour - timedelta(hours=2, minutes=-50)),
        (NOW - timedelta(minutes=45), NOW),
        (NOW - timedelta(hours=3, minutes=7), NOW - timedelta(minutes=13)),
        (hour - timedelta(hours=5), hour - timedelta(hours=2)),
        (NOW - timedelta(hours=24), NOW + timedelta(minutes=1)),
        (NOW - timedelta(days=7), NOW + timedelta(minutes=1)),
    ]


def same_as_reference(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, answer: Callable[[], Any]
) -> Any:
    """``answer()`` as it is, asserted equal to its answer with the reference query."""
    found = answer()
    with monkeypatch.context() as patched:
        patched.setattr(module, name, REFERENCES[module, name])
        assert answer() == found, name
    return found


def test_volume_reads_blocks_and_edge_minutes_as_it_read_minutes(
    filled: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered = 0
    for start, end in ranges():
        for f in (
            VolumeFilter(start=start, end=end),
            VolumeFilter(start=start, end=end, channels=("ivr", "sms"), brands=("gotone",)),
        ):
            found = same_as_reference(
                monkeypatch, volume, "BREAKDOWN", lambda f=f: volume.breakdown(filled, f)
            )
            same_as_reference(monkeypatch, volume, "SERIES", lambda f=f: volume.series(filled, f))
            answered += found.total > 0
    assert answered == 2 * len(ranges())


def test_channel_panels_read_their_minutes_as_they_read_events(
    filled: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered = 0
    for start, end in ranges():
        texts = same_as_reference(
            monkeypatch,
            sms_hall,
            "MESSAGES",
            lambda s=start, e=end: sms_hall.messages(filled, s, e),
        )
        unknown = same_as_reference(
            monkeypatch, sms_hall, "UNKNOWN_TEXTS",
            lambda s=start, e=end: sms_hall.unknown_texts(filled, s, e, 20),
        )  # fmt: skip
        done = same_as_reference(
            monkeypatch, cross_channel, "SELF_SERVICE",
            lambda s=start, e=end: cross_channel.deflection(filled, s, e),
        )  # fmt: skip
        used = same_as_reference(
            monkeypatch, online, "FUNCTIONS", lambda s=start, e=end: online.functions(filled, s, e)
        )
        answered += all((texts.total, unknown, done, used))
    assert answered == len(ranges())
    day = sms_hall.unknown_texts(filled, NOW - timedelta(days=1), NOW, 1000)
    assert f"balance {sms_hall.MASK} acct {sms_hall.MASK}" in {t.text for t in day}


def test_health_reads_its_tables_as_it_read_events(
    filled: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    for now in (NOW, NOW + timedelta(seconds=37), NOW - timedelta(hours=3, seconds=5)):
        same_as_reference(
            monkeypatch, health, "INGESTED",
            lambda n=now: health.events_per_second(filled, n, timedelta(days=8)),
        )  # fmt: skip
        for partitions in (1, 2):
            same_as_reference(
                monkeypatch, health, "NEWEST_PER_PARTITION",
                lambda n=now, p=partitions: health.completeness(filled, p, n),
            )  # fmt: skip
    assert health.events_per_second(filled, NOW + timedelta(days=1), timedelta(days=8)) > 0


def _bounds(start: datetime, end: datetime) -> dict[str, int]:
    """The parameters the kiosks' query on ``events`` took."""
    known_from = min(start, end - kiosks.LOOKBACK)
    return {
        "start": int(start.timestamp()),
        "known_from": int(known_from.timestamp()),
        "end": int(end.timestamp()),
    }


def test_kiosk_terminals_read_days_and_edge_blocks_as_they_read_events(
    filled: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered = 0
    for start, end in ranges():
        found = kiosks.terminals(filled, start, end)
        with monkeypatch.context() as patched:
            patched.setattr(
                kiosks, "_query", lambda s, e: (REFERENCES[kiosks, "TERMINALS"], _bounds(s, e))
            )
            assert kiosks.terminals(filled, start, end) == found, (start, end)
        answered += any(t.sessions for t in found) and any(t.faults for t in found)
    assert answered == len(ranges())


def _contents(client: Client, table: str) -> list[tuple[Any, ...]]:
    """Every key of an aggregate table with its merged values, in key order."""
    described = client.execute(f"DESCRIBE TABLE {table}")
    keys = [name for name, kind, *_ in described if kind != "UInt64" and "Aggregate" not in kind]
    values = [
        f"countMerge({name})"
        if "(count)" in kind
        else f"uniqExactMerge({name})"
        if "uniqExact" in kind
        else f"sum({name})"
        for name, kind, *_ in described
        if name not in keys
    ]
    return client.execute(
        f"SELECT {', '.join(keys + values)} FROM {table} GROUP BY {', '.join(keys)}"
        f" ORDER BY {', '.join(keys)}"
    )


def test_the_fill_of_stored_events_matches_the_views_and_runs_once(
    filled: Client, migrated: Settings
) -> None:
    db = migrated.clickhouse_database
    assert len(ROLLUPS) == 7
    by_views = {name: _contents(filled, name) for name in ROLLUPS}
    assert all(by_views.values())
    fills = [s for s in migrations.operations("0008_rollups") if s.startswith("INSERT")]
    for name in ROLLUPS:
        filled.execute(f"TRUNCATE TABLE {name}")
    for _ in range(2):
        for statement in fills:
            filled.execute(statement.format(db=db))
        assert {name: _contents(filled, name) for name in ROLLUPS} == by_views
