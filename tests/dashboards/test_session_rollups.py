"""The panels that read sessions, not events (the IVR panels from the calls migration 0014's
fill summarises of the stored events, the SMS hall's confirmations from the dialogues migration
0020's fill summarises, and from those the nudge stage summarises of the same events) answer
exactly as the queries on ``events`` they replaced, on the real ClickHouse, for sessions that
are over within the time they are followed.

Simulated traffic ending now and hand-made sessions go in through the sink's row builder:
calls and dialogues starting a second before, on, and a second before the end of a range, and
across an hour; self-service calls re-contacted on the last millisecond of the window and one
after it, by a session that began before the call ended, and in the call's own session. Every
panel runs over ranges whose edges cut those sessions, over the page's day and a week, once
as it is and once with the query it replaced. The tables also hold the same rows whether the
views filled them or the fills of migrations 0010, 0011 and 0016 did (the kiosk terminals'
tables too), and a second fill adds nothing."""

import importlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_driver import Client

from dashboards.queries import ivr, sms_hall
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect
from sinks.tables import ivr_calls, sms_dialogues
from tests.dashboards.deep_dive_data import (
    Event,
    ending_now,
    event,
    insert,
    insert_dialogues,
    simulated,
)

pytestmark = pytest.mark.integration

#: The migrations of the aggregate tables checked here (the kiosks' are read by the
#: per-minute tests of ``test_rollups.py``, their fill is checked here).
MIGRATIONS = ("0011_kiosk_rollups", "0016_kiosk_day_rollups")
ROLLUPS: tuple[str, ...] = tuple(
    name
    for migration in MIGRATIONS
    for name in importlib.import_module(f"sinks.migrations.{migration}").ROLLUPS
)

_MS = "toUInt64(occurred_at) * 1000 + occurred_ms"
_STEP = "concat(visitParamExtractString(attributes, 'key_path'), ' ', " \
    "visitParamExtractString(attributes, 'item'))"  # fmt: skip

#: The call subquery the IVR panels built on ``events`` before the aggregate tables.
CALLS = f"""
SELECT session_id,
       any(subscriber) AS caller,
       anyIf(prefecture, event_type = 'ivr.call_started') AS call_prefecture,
       anyIf(brand, event_type = 'ivr.call_started') AS call_brand,
       anyIf(visitParamExtractString(attributes, 'lead_in_variant'),
             event_type = 'ivr.call_started') AS variant,
       anyIf(visitParamExtractBool(attributes, 'busy_period'),
             event_type = 'ivr.call_started') AS busy,
       groupUniqArrayIf({_STEP}, event_type = 'ivr.menu_selected') AS steps,
       argMaxIf({_STEP}, {_MS}, event_type = 'ivr.menu_selected') AS last_step,
       countIf(event_type = 'ivr.agent_requested') > 0 AS zero,
       anyIf(visitParamExtractString(attributes, 'outcome'),
             event_type = 'ivr.call_ended') AS outcome,
       maxIf({_MS}, event_type = 'ivr.call_ended') AS ended_ms
FROM events
WHERE channel = 'ivr'
  AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(follow)s)
GROUP BY session_id
HAVING countIf(event_type = 'ivr.call_started' AND occurred_at < toDateTime(%(end)s)) > 0
"""

#: The queries the IVR panels ran on ``events``, by name.
REFERENCES: dict[str, str] = {
    "FUNNEL": f"""
SELECT step,
       count() AS reached,
       countIf(step = last_step) AS stopped,
       countIf(step = last_step AND outcome = 'self_service') AS self_served,
       countIf(step = last_step AND zero) AS pressed_zero,
       countIf(step = last_step AND outcome = 'hangup') AS hung_up,
       countIf(step = last_step AND outcome = 'abandoned') AS abandoned
FROM ({CALLS})
ARRAY JOIN if(empty(steps), [''], steps) AS step
GROUP BY step
""",
    "LEAD_INS": f"""
SELECT variant, call_prefecture, call_brand, busy,
       count() AS calls,
       countIf(outcome = 'self_service') AS self_served,
       countIf(zero) AS pressed_zero,
       countIf(outcome = 'hangup') AS hung_up
FROM ({CALLS})
GROUP BY variant, call_prefecture, call_brand, busy
""",
    "CONTAINMENT": f"""
SELECT count() AS calls,
       countIf(self_service) AS self_service_calls,
       countIf(self_service AND recontacts = 0) AS contained,
       countIf(self_service AND recontacts = 0 AND ended_ms + %(window_ms)s > %(as_of_ms)s)
           AS still_open
FROM (
    SELECT session_id, self_service, ended_ms,
           countIf(other_ms > ended_ms AND other_ms <= ended_ms + %(window_ms)s
                   AND other_session != session_id) AS recontacts
    FROM (
        SELECT session_id, caller AS subscriber, ended_ms,
               outcome = 'self_service' AND NOT zero AS self_service
        FROM ({CALLS})
    ) AS calls
    ALL LEFT JOIN (
        SELECT subscriber, session_id AS other_session, {_MS} AS other_ms
        FROM events
        WHERE occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(until)s)
          AND subscriber IN (SELECT caller FROM ({CALLS}) WHERE outcome = 'self_service')
    ) AS later USING subscriber
    GROUP BY session_id, self_service, ended_ms
)
""",
}

#: The query the SMS hall's confirmation panel ran on ``events``.
CONFIRMATIONS = """
SELECT code,
       count() AS prompted,
       countIf(reply = 'yes') AS yes,
       countIf(reply = 'no') AS no,
       countIf(reply = 'timeout') AS timed_out,
       countIf(services > 0) AS done,
       countIf(successes > 0) AS succeeded
FROM (
    SELECT session_id,
           anyIf(visitParamExtractString(attributes, 'code'),
                 event_type = 'sms.confirmation_requested') AS code,
           anyIf(visitParamExtractString(attributes, 'reply'),
                 event_type = 'sms.confirmation_replied') AS reply,
           countIf(event_type = 'sms.service_completed') AS services,
           countIf(event_type = 'sms.service_completed'
                   AND visitParamExtractBool(attributes, 'success')) AS successes
    FROM events FINAL
    WHERE channel = 'sms'
      AND event_type IN ('sms.confirmation_requested', 'sms.confirmation_replied',
                         'sms.service_completed')
      AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(follow)s)
    GROUP BY session_id
    HAVING countIf(event_type = 'sms.confirmation_requested'
                   AND occurred_at < toDateTime(%(end)s)) > 0
)
GROUP BY code
"""

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
#: The hour the hand-made calls cross, before the simulated traffic, and the ranges they are
#: cut by.
HOUR = NOW.replace(minute=0) - timedelta(days=2)
EDGES = (HOUR - timedelta(minutes=20), HOUR + timedelta(minutes=20))
WINDOW = ivr.RECONTACT_WINDOW


def call(
    session: str, at: datetime, msisdn: str, *, steps: int, outcome: str, seconds: int = 90
) -> list[Event]:
    """One call from ``at``: the lead-in, ``steps`` menu selections, and its end."""
    common: dict[str, Any] = {"msisdn": msisdn, "session": session}
    made = [
        event("ivr.call_started", at, attributes={"lead_in_variant": f"v{steps}",
              "busy_period": steps % 2 == 0}, **common),
        *(event("ivr.menu_selected", at + timedelta(seconds=5 * (i + 1)),
                attributes={"key_path": "-".join("12"[: i + 1]), "item": f"item{i}"}, **common)
          for i in range(steps)),
        event("ivr.call_ended", at + timedelta(seconds=seconds),
              attributes={"duration_s": float(seconds), "outcome": outcome}, **common),
    ]  # fmt: skip
    if outcome == "abandoned":
        made.append(event("ivr.agent_requested", at + timedelta(seconds=seconds // 2),
                          attributes={"key_path": "0", "topic": "unknown"}, **common))  # fmt: skip
    return made


def edge_calls() -> list[Event]:
    """Calls a second before, on and a second before each edge; across the hour; and
    self-service calls re-contacted at the window's last millisecond, just after it, by a
    session begun before the call ended, and only in their own session."""
    made: list[Event] = []
    for e, edge in enumerate(EDGES):
        for i, offset in enumerate((-1, 0, 59, -61)):
            made += call(f"ivr-edge-{e}-{i}", edge + timedelta(seconds=offset),
                         f"1390000{e}{i:03d}", steps=i, outcome=("self_service", "hangup",
                         "abandoned", "agent")[i])  # fmt: skip
    made += call("ivr-hour", HOUR - timedelta(seconds=30), "13900003000", steps=3,
                 outcome="self_service", seconds=200)  # fmt: skip
    ended = HOUR - timedelta(minutes=10) + timedelta(seconds=90)
    cases: list[tuple[str, timedelta | None, timedelta]] = [
        ("last-ms", WINDOW, timedelta(0)),
        ("after", WINDOW + timedelta(milliseconds=1), timedelta(0)),
        ("spanning", timedelta(minutes=30), timedelta(minutes=-20)),
        ("own", None, timedelta(0)),
    ]
    for i, (name, later, begun) in enumerate(cases):
        msisdn = f"1390000200{i}"
        made += call(f"ivr-ss-{name}", ended - timedelta(seconds=90), msisdn, steps=1,
                     outcome="self_service")  # fmt: skip
        if later is None:
            made += call(f"ivr-ss-{name}", ended + timedelta(seconds=1), msisdn, steps=1,
                         outcome="self_service")[1:2]  # fmt: skip
            continue
        visit = {"msisdn": msisdn, "session": f"web-{name}", "attributes": {"function": "q"}}
        if begun:
            made.append(event("web.function_used", ended + begun, **visit))
        made.append(event("web.function_used", ended + later, **visit))
    return made


def edge_dialogues() -> list[Event]:
    """Confirmation dialogues prompted a second before, on and a second before each edge,
    replied ten minutes later, one across the hour, and the service run after a yes."""
    made: list[Event] = []
    moments = [edge + timedelta(seconds=s) for edge in EDGES for s in (-1, 0, 59, -61)]
    for i, at in enumerate([*moments, HOUR - timedelta(minutes=5)]):
        reply = ("yes", "no", "timeout")[i % 3]
        common: dict[str, Any] = {"msisdn": f"1370000{i:04d}", "session": f"sms-edge-{i}"}
        made += [
            event("sms.confirmation_requested", at, attributes={"code": f"02{i % 2}4",
                  "service": "handling.ringback_tone", "charge_fen": 500}, **common),
            event("sms.confirmation_replied", at + timedelta(minutes=10),
                  attributes={"code": f"02{i % 2}4", "reply": reply}, **common),
        ]  # fmt: skip
        if reply == "yes":
            done = {"code": f"02{i % 2}4", "service": "handling.ringback_tone",
                    "success": i % 2 == 0}  # fmt: skip
            made.append(event("sms.service_completed", at + timedelta(minutes=11),
                              attributes=done, **common))  # fmt: skip
    return made


def traffic() -> list[Event]:
    return simulated(40_000, seed=23, start=ending_now(40_000, seed=23))


@pytest.fixture
def filled(migrated: Settings) -> Iterator[Client]:
    insert(migrated, [*traffic(), *edge_calls(), *edge_dialogues()])
    client = connect(migrated)
    fills = (
        *ivr_calls.IVR_CONTAINMENT_PER_MINUTE.fill_statements,
        *sms_dialogues.SMS_CONFIRMATIONS_PER_MINUTE.fill_statements,
    )
    for fill in fills:
        for statement in migrations.rendered(None, migrated.clickhouse_database, fill):
            client.execute(statement)
    yield client
    client.disconnect()


@pytest.fixture
def streamed(migrated: Settings) -> Iterator[Client]:
    """The same events, with the dialogues the nudge stage summarises of them (no fill)."""
    produced = [*traffic(), *edge_dialogues()]
    insert(migrated, produced)
    assert insert_dialogues(migrated, produced) > 0
    client = connect(migrated)
    yield client
    client.disconnect()


def ranges() -> list[tuple[datetime, datetime]]:
    """Ranges whose edges cut the hand-made calls, inside an hour, across hours, and the
    page's day."""
    return [
        EDGES,
        (EDGES[0], HOUR),
        (HOUR, EDGES[1]),
        (EDGES[0] + timedelta(minutes=1), EDGES[1] - timedelta(minutes=1)),
        (NOW - timedelta(minutes=45), NOW),
        (NOW - timedelta(hours=3, minutes=7), NOW - timedelta(minutes=13)),
        (NOW - timedelta(hours=24), NOW),
        (NOW - timedelta(days=7), NOW),
    ]


def reference_range(start: datetime, end: datetime) -> dict[str, int]:
    """The parameters of :data:`REFERENCES`, as of :data:`NOW`."""
    follow, window = end + ivr.FOLLOW, ivr.RECONTACT_WINDOW
    return {
        "start": int(start.timestamp()),
        "end": int(end.timestamp()),
        "follow": int(follow.timestamp()),
        "until": int((follow + window + timedelta(hours=1)).timestamp()),
        "window_ms": int(window.total_seconds() * 1000),
        "as_of_ms": int(NOW.timestamp() * 1000),
    }


def test_ivr_panels_read_the_filled_calls_as_they_read_events(
    filled: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered = 0
    for start, end in ranges():
        answers = {
            "FUNNEL": lambda s=start, e=end: ivr.funnel(filled, s, e),
            "LEAD_INS": lambda s=start, e=end: ivr.lead_ins(filled, s, e),
            "CONTAINMENT": lambda s=start, e=end: ivr.containment(filled, s, e, NOW),
        }
        found = {name: answer() for name, answer in answers.items()}
        with monkeypatch.context() as patched:
            for name in REFERENCES:
                patched.setattr(ivr, name, REFERENCES[name])
            patched.setattr(ivr, "_range", reference_range)
            assert {name: answer() for name, answer in answers.items()} == found, (start, end)
        answered += found["CONTAINMENT"].self_service > 0 and bool(found["FUNNEL"])
    assert answered >= 5
    # Two calls on either side of each edge are in; of the self-service ones, those
    # re-contacted on the window's last millisecond and by a session begun before the end are
    # not contained; a millisecond late, in the call's own session or never, they are.
    assert ivr.containment(filled, *EDGES, NOW) == ivr.Containment(9, 6, 4, 0)


def confirmations_range(start: datetime, end: datetime) -> dict[str, int]:
    """The parameters of :data:`CONFIRMATIONS`."""
    follow = end + sms_hall.FOLLOW
    return {
        "start": int(start.timestamp()),
        "end": int(end.timestamp()),
        "follow": int(follow.timestamp()),
    }


@pytest.mark.parametrize("source", ["filled", "streamed"])
def test_confirmations_read_the_dialogues_as_they_read_events(
    source: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dialogues the migration's fill summarised of the stored events, and those the
    nudge stage summarises of the same events."""
    client: Client = request.getfixturevalue(source)
    answered = 0
    for start, end in ranges():
        found = sms_hall.confirmations(client, start, end)
        with monkeypatch.context() as patched:
            patched.setattr(sms_hall, "CONFIRMATIONS", CONFIRMATIONS)
            patched.setattr(sms_hall, "_range", confirmations_range)
            assert sms_hall.confirmations(client, start, end) == found, (start, end)
        answered += bool(found)
    assert answered >= 5
    # Two dialogues on either side of each edge are in.
    assert sum(c.prompted for c in sms_hall.confirmations(client, *EDGES)) == 5


def test_the_fill_of_stored_dialogues_runs_once(filled: Client, migrated: Settings) -> None:
    day = (NOW - timedelta(hours=24), NOW)
    before = sms_hall.confirmations(filled, *day)
    for fill in sms_dialogues.SMS_CONFIRMATIONS_PER_MINUTE.fill_statements:
        for statement in migrations.rendered(None, migrated.clickhouse_database, fill):
            filled.execute(statement)
    assert sms_hall.confirmations(filled, *day) == before != []


def _contents(client: Client, table: str) -> list[tuple[Any, ...]]:
    """Every key of an aggregate table with its merged values, in key order."""
    described = client.execute(f"DESCRIBE TABLE {table}")
    keys = [name for name, kind, *_ in described if "Aggregate" not in kind]
    values = [f"finalizeAggregation({name})" for name, kind, *_ in described if name not in keys]
    return client.execute(
        f"SELECT {', '.join(keys)}, {', '.join(values)} FROM {table} FINAL"
        f" ORDER BY {', '.join(keys)}"
    )


def test_the_fill_of_stored_events_matches_the_views_and_runs_once(
    filled: Client, migrated: Settings
) -> None:
    db = migrated.clickhouse_database
    for name in ROLLUPS:
        filled.execute(f"OPTIMIZE TABLE {name} FINAL")
    by_views = {name: _contents(filled, name) for name in ROLLUPS}
    assert all(by_views.values())
    fills = [
        s for name in MIGRATIONS for s in migrations.operations(name) if s.startswith("INSERT")
    ]
    for name in ROLLUPS:
        filled.execute(f"TRUNCATE TABLE {name}")
    for _ in range(2):
        for statement in fills:
            filled.execute(statement.format(db=db))
        assert {name: _contents(filled, name) for name in ROLLUPS} == by_views
