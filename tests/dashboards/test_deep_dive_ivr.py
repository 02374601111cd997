"""The IVR deep-dive queries against a real ClickHouse, every number recomputed in Python.

Data: several hours of simulated traffic on every channel, plus hand-made calls at the edges
of the range and of the 24 h re-contact window, summarised by the real nudge core (duplicates
included) and stored as the sink stores them. The expectations group the events by clear MSISDN
and session in plain Python, as the panels grouped the stored events before the stage
summarised calls; ClickHouse sums the stage's summaries by pseudonym, so both paths must agree.
The migration's fill, which summarises the events stored before, must find what the stage
finds.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboards import db
from dashboards.queries import ivr
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect
from sinks.tables import ivr_calls
from tests.dashboards.deep_dive_data import (
    Event,
    event,
    insert,
    insert_calls,
    insert_with_duplicates,
    occurred,
    simulated,
)

pytestmark = pytest.mark.integration

SIMULATED_FROM = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
START = SIMULATED_FROM + timedelta(minutes=30)
END = START + timedelta(hours=4)
AS_OF = START + timedelta(hours=26)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms(e: Event) -> int:
    return (occurred(e) - EPOCH) // timedelta(milliseconds=1)


def self_service_call(msisdn: str, session: str, at: datetime) -> list[Event]:
    """Call, key 1, item 1-1, self-served, ended 30 s after it started."""
    common = {"msisdn": msisdn, "session": session}
    return [
        event("ivr.call_started", at, attributes={"lead_in_variant": "changsha.gotone.idle",
              "busy_period": False}, **common),
        event("ivr.menu_selected", at + timedelta(seconds=10),
              attributes={"key_path": "1", "item": "query"}, **common),
        event("ivr.menu_selected", at + timedelta(seconds=15),
              attributes={"key_path": "1-1", "item": "query.realtime_charges"}, **common),
        event("ivr.self_service_completed", at + timedelta(seconds=28),
              attributes={"key_path": "1-1", "item": "query.realtime_charges", "success": True},
              **common),
        event("ivr.call_ended", at + timedelta(seconds=30),
              attributes={"duration_s": 30.0, "outcome": "self_service"}, **common),
    ]  # fmt: skip


def sms(msisdn: str, session: str, at: datetime) -> Event:
    return event(
        "sms.message_received", at, msisdn=msisdn, session=session,
        attributes={"text": "HF", "matched_code": "0101", "match_kind": "fuzzy"},
    )  # fmt: skip


def edge_cases() -> list[Event]:
    first = START + timedelta(minutes=5)
    ended = first + timedelta(seconds=30)
    return [
        # re-contacted exactly 24 h after the call ended: not contained
        *self_service_call("13800000001", "ivr-edge-1", first),
        sms("13800000001", "sms-edge-1", ended + ivr.RECONTACT_WINDOW),
        # a millisecond later: contained
        *self_service_call("13800000002", "ivr-edge-2", first),
        sms("13800000002", "sms-edge-2", ended + ivr.RECONTACT_WINDOW + timedelta(milliseconds=1)),
        # another call of the same caller 10 minutes later re-contacts the first one
        *self_service_call("13800000003", "ivr-edge-3a", first),
        *self_service_call("13800000003", "ivr-edge-3b", first + timedelta(minutes=10)),
        # started a second before the range / exactly at its end: not counted
        *self_service_call("13800000004", "ivr-edge-4", START - timedelta(seconds=1)),
        *self_service_call("13800000005", "ivr-edge-5", END),
        # pressed 0 in the lead-in, then hung up in the queue
        event("ivr.call_started", END - timedelta(minutes=1), msisdn="13800000006",
              session="ivr-edge-6", attributes={"lead_in_variant": "loudi.mzone.busy",
              "busy_period": True}, prefecture="loudi", brand="mzone"),
        event("ivr.agent_requested", END - timedelta(seconds=50), msisdn="13800000006",
              session="ivr-edge-6", attributes={"key_path": "0", "topic": "unknown"},
              prefecture="loudi", brand="mzone"),
        event("ivr.call_ended", END + timedelta(seconds=40), msisdn="13800000006",
              session="ivr-edge-6", attributes={"duration_s": 100.0, "outcome": "abandoned"},
              prefecture="loudi", brand="mzone"),
    ]  # fmt: skip


def produced() -> list[Event]:
    return [*simulated(30_000, seed=11, start=SIMULATED_FROM), *edge_cases()]


@pytest.fixture
def known(migrated: Settings) -> list[Event]:
    """The events as stored, and the calls the nudge stage summarises of them, duplicates at
    least once delivery makes included: the summaries must not change."""
    events = produced()
    insert_with_duplicates(migrated, events)
    insert_calls(migrated, [*events, *events[::5]])
    return events


@dataclass
class Call:
    session: str
    caller: str
    prefecture: str
    brand: str
    variant: str
    busy: bool
    steps: set[str]
    last_step: str
    zero: bool
    outcome: str
    ended_ms: int


def calls(known: list[Event], start: datetime = START, end: datetime = END) -> list[Call]:
    """Calls that started in ``[start, end)``, from their events up to the follow-up horizon."""
    sessions: defaultdict[str, list[Event]] = defaultdict(list)
    for e in known:
        if e["channel"] == "ivr" and start <= occurred(e) < end + ivr.FOLLOW:
            sessions[e["session_id"]].append(e)
    found = []
    for session, evs in sessions.items():
        started = [e for e in evs if e["event_type"] == "ivr.call_started" and occurred(e) < end]
        if not started:
            continue
        menu = sorted((e for e in evs if e["event_type"] == "ivr.menu_selected"), key=ms)
        step = [f"{e['attributes']['key_path']} {e['attributes']['item']}" for e in menu]
        ended = [e for e in evs if e["event_type"] == "ivr.call_ended"]
        found.append(
            Call(
                session=session,
                caller=evs[0]["msisdn"],
                prefecture=started[0]["prefecture"],
                brand=started[0]["brand"],
                variant=started[0]["attributes"]["lead_in_variant"],
                busy=started[0]["attributes"]["busy_period"],
                steps=set(step),
                last_step=step[-1] if step else "",
                zero=any(e["event_type"] == "ivr.agent_requested" for e in evs),
                outcome=ended[0]["attributes"]["outcome"] if ended else "",
                ended_ms=max((ms(e) for e in ended), default=0),
            )
        )
    return found


def test_menu_funnel_follows_each_call_to_its_last_step(
    migrated: Settings, known: list[Event]
) -> None:
    expected: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for call in calls(known):
        for step in call.steps or {ivr.LEAD_IN}:
            counts = expected[step]
            counts["reached"] += 1
            if step == call.last_step:
                counts["stopped"] += 1
                counts["self_served"] += call.outcome == "self_service"
                counts["pressed_zero"] += call.zero
                counts["hung_up"] += call.outcome == "hangup"
                counts["abandoned"] += call.outcome == "abandoned"

    with db.client(migrated) as client:
        steps = ivr.funnel(client, START, END)

    got = {
        f"{s.key_path} {s.item}".strip(): Counter(
            reached=s.reached, stopped=s.stopped, self_served=s.self_served,
            pressed_zero=s.pressed_zero, hung_up=s.hung_up, abandoned=s.abandoned,
        )
        for s in steps
    }  # fmt: skip
    assert got == {step.strip(): counts for step, counts in expected.items()}
    assert len(steps) > 30  # both levels of the menu, per branch order
    lead_in = next(s for s in steps if s.key_path == ivr.LEAD_IN)
    assert lead_in.pressed_zero > 0
    assert all(s.went_deeper == s.reached - s.stopped >= 0 for s in steps)


def test_lead_in_variants_compare_outcomes(migrated: Settings, known: list[Event]) -> None:
    expected: defaultdict[tuple[str, str, str, bool], Counter[str]] = defaultdict(Counter)
    for call in calls(known):
        counts = expected[(call.variant, call.prefecture, call.brand, call.busy)]
        counts["calls"] += 1
        counts["self_served"] += call.outcome == "self_service"
        counts["pressed_zero"] += call.zero
        counts["hung_up"] += call.outcome == "hangup"

    with db.client(migrated) as client:
        variants = ivr.lead_ins(client, START, END)

    got = {
        (v.variant, v.prefecture, v.brand, v.busy): Counter(
            calls=v.calls, self_served=v.self_served, pressed_zero=v.pressed_zero,
            hung_up=v.hung_up,
        )
        for v in variants
    }  # fmt: skip
    assert got == expected
    assert [v.calls for v in variants] == sorted((v.calls for v in variants), reverse=True)
    assert {v.busy for v in variants} == {True, False}


def contained(
    known: list[Event], start: datetime = START, end: datetime = END
) -> tuple[list[Call], list[Call]]:
    """Self-service calls of the range, and those with no other session within the window."""
    horizon = (end + ivr.FOLLOW + ivr.RECONTACT_WINDOW - EPOCH) // timedelta(milliseconds=1)
    window = ivr.RECONTACT_WINDOW // timedelta(milliseconds=1)
    start_ms = (start - EPOCH) // timedelta(milliseconds=1)
    contacts: defaultdict[str, list[tuple[str, int]]] = defaultdict(list)
    for e in known:
        if e["msisdn"] and start_ms <= ms(e) < horizon:
            contacts[e["msisdn"]].append((e["session_id"], ms(e)))
    self_service = [
        c for c in calls(known, start, end) if c.outcome == "self_service" and not c.zero
    ]
    silent = [
        c
        for c in self_service
        if not any(
            session != c.session and c.ended_ms < at <= c.ended_ms + window
            for session, at in contacts[c.caller]
        )
    ]
    return self_service, silent


def test_containment_needs_self_service_and_24_hours_of_silence(
    migrated: Settings, known: list[Event]
) -> None:
    found = calls(known)
    self_service, silent = contained(known)
    window = ivr.RECONTACT_WINDOW // timedelta(milliseconds=1)
    as_of_ms = (AS_OF - EPOCH) // timedelta(milliseconds=1)

    with db.client(migrated) as client:
        result = ivr.containment(client, START, END, AS_OF)

    assert result.calls == len(found)
    assert result.self_service == len(self_service)
    assert result.contained == len(silent)
    # Still open: ended in a minute less than the window before as_of's minute.
    assert result.still_open == sum(
        c.ended_ms // 60_000 * 60_000 >= as_of_ms // 60_000 * 60_000 - window for c in silent
    )
    assert result.rate == pytest.approx(len(silent) / len(found))
    assert 0 < result.still_open < result.contained < result.self_service < result.calls
    sessions = {c.session for c in silent}
    assert {"ivr-edge-2", "ivr-edge-3b"} <= sessions
    assert not {"ivr-edge-1", "ivr-edge-3a", "ivr-edge-4", "ivr-edge-5"} & sessions


def test_an_empty_range_has_no_calls(migrated: Settings) -> None:
    with db.client(migrated) as client:
        assert ivr.funnel(client, START, END) == []
        assert ivr.lead_ins(client, START, END) == []
        result = ivr.containment(client, START, END, AS_OF)
    assert (result.calls, result.self_service, result.contained, result.rate) == (0, 0, 0, None)


def test_the_fill_summarises_stored_events_as_the_stage_does(migrated: Settings) -> None:
    """An upgrade summarises the calls of the events stored before the stage summarised any
    with the migration's fill; on the same events it must find what the stage finds."""
    events = produced()
    insert(migrated, events)
    views = ("ivr_steps_per_minute", "ivr_lead_ins_per_minute", "ivr_containment_per_minute")
    client = connect(migrated)
    try:
        for fill in ivr_calls.IVR_CONTAINMENT_PER_MINUTE.fill_statements:
            for statement in migrations.rendered(None, migrated.clickhouse_database, fill):
                client.execute(statement)
        filled = {view: _sums(client, view) for view in views}
        for table in ("ivr_calls", *views):
            client.execute(f"TRUNCATE TABLE {table}")
        rows = insert_calls(migrated, events)
        streamed = {view: _sums(client, view) for view in views}
    finally:
        client.disconnect()
    assert filled == streamed
    summed = [sum(row[i] for row in streamed[views[2]]) for i in (2, 3, 4)]
    total, self_service, recontacted = summed
    assert rows == total + recontacted
    assert 0 < recontacted < self_service < total


def _sums(client: Any, view: str) -> list[tuple[Any, ...]]:
    """Every key of a per-minute view with its summed counts, in key order."""
    described = client.execute(f"DESCRIBE TABLE {view}")
    keys = [name for name, kind, *_ in described if kind != "UInt64"]
    counts = [f"sum({name})" for name, kind, *_ in described if kind == "UInt64"]
    return client.execute(
        f"SELECT {', '.join(keys)}, {', '.join(counts)} FROM {view}"
        f" GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}"
    )
