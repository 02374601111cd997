"""IVR calls summarised from the stream (:mod:`orchestration.call_summaries`) against the
definitions the IVR panels used to apply to the stored events, recomputed here in bulk."""

from collections import Counter
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.clock import to_ms
from orchestration.call_summaries import MAX_LIVE, Calls, close, step
from orchestration.journey import LIVE_CALL_TIMEOUT_MS
from schemas import Event
from schemas.calls import CONTAINMENT_WINDOW_MS, CallSummarised
from tests.orchestration.events import T0, make

MSISDN = "13800000001"
HOUR = 3_600_000
#: Menu steps, two sharing a key path (branches re-order items) and two an item.
STEPS = (("1", "query"), ("1-1", "query.realtime_charges"), ("2-1", "handling.data_plan"),
         ("2-1", "handling.ringback_tone"), ("3", "query.realtime_charges"))  # fmt: skip
OUTCOMES = ("self_service", "agent", "abandoned", "hangup")


def at(ms: int, event_type: str, session: str, **attributes: Any) -> Event:
    """An event of the subscriber ``ms`` milliseconds after T0."""
    moment = (T0 + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
    return make(event_type, attributes, occurred_at=moment, session_id=session, msisdn=MSISDN)


def started(ms: int, session: str, busy: bool = False) -> Event:
    variant = "changsha.mzone.idle"
    return at(ms, "ivr.call_started", session, lead_in_variant=variant, busy_period=busy)


def menu(ms: int, session: str, key_path: str, item: str) -> Event:
    return at(ms, "ivr.menu_selected", session, key_path=key_path, item=item)


def zero(ms: int, session: str) -> Event:
    return at(ms, "ivr.agent_requested", session, key_path="0", topic="unknown")


def ended(ms: int, session: str, outcome: str = "self_service") -> Event:
    return at(ms, "ivr.call_ended", session, duration_s=1.0, outcome=outcome)


def web(ms: int, session: str) -> Event:
    return at(ms, "web.function_used", session, function="bill.realtime")


def ms_of(event: Event) -> int:
    return to_ms(event.occurred_at)


def streamed(events: list[Event]) -> tuple[list[CallSummarised], Calls | None]:
    """Every record of ``events`` in order, then every call closed long after the last."""
    calls: Calls | None = None
    records: list[CallSummarised] = []
    for event in events:
        calls, done = step(calls, MSISDN, event, ms_of(event), late=False)
        records += done
    if events:
        end = ms_of(events[-1]) + CONTAINMENT_WINDOW_MS + LIVE_CALL_TIMEOUT_MS + 1
        calls, done = close(calls, MSISDN, end)
        records += done
    return records, calls


def summarised(records: list[CallSummarised]) -> Counter[tuple[object, ...]]:
    return Counter(
        (r.kind, to_ms(r.started_at), None if r.ended_at is None else to_ms(r.ended_at),
         r.prefecture, r.brand, r.lead_in_variant, r.busy_period, frozenset(r.steps),
         r.last_step, r.pressed_zero, r.outcome)
        for r in records
    )  # fmt: skip


def in_bulk(events: list[Event]) -> Counter[tuple[object, ...]]:
    """Per call, its events grouped as the panels grouped them; a self-service call is
    re-contacted when another session has an event in (end, end + 24 h]."""
    sessions: dict[str, list[Event]] = {}
    for e in events:
        sessions.setdefault(e.session_id, []).append(e)
    found: Counter[tuple[object, ...]] = Counter()
    for session, own in sessions.items():
        ivr = [e for e in own if e.channel == "ivr"]
        start = next((e for e in ivr if e.event_type == "ivr.call_started"), None)
        if start is None:
            continue
        selected = sorted((e for e in ivr if e.event_type == "ivr.menu_selected"), key=ms_of)
        steps = [f"{e.attributes.key_path} {e.attributes.item}" for e in selected]
        end = next((e for e in ivr if e.event_type == "ivr.call_ended"), None)
        pressed = any(e.event_type == "ivr.agent_requested" for e in ivr)
        start_ms = ms_of(start)
        end_ms = None if end is None else ms_of(end)
        outcome = None if end is None else end.attributes.outcome
        found["call", start_ms, end_ms, start.prefecture, start.brand,
              start.attributes.lead_in_variant, start.attributes.busy_period, frozenset(steps),
              steps[-1] if steps else None, pressed, outcome] += 1  # fmt: skip
        if outcome == "self_service" and not pressed:
            assert end_ms is not None
            if any(
                e.session_id != session and end_ms < ms_of(e) <= end_ms + CONTAINMENT_WINDOW_MS
                for e in events
            ):
                minute = start_ms // 60_000 * 60_000  # a re-contact knows its call's minute
                found["recontacted", minute, end_ms, None, None, None, False, frozenset(), None,
                      False, None] += 1  # fmt: skip
    return found


def test_a_call_is_summarised_once_when_it_ends() -> None:
    call = [
        started(0, "call-1", busy=True),
        menu(10_000, "call-1", "1", "query"),
        menu(15_000, "call-1", "1-1", "query.realtime_charges"),
        menu(20_000, "call-1", "1", "query"),
        zero(25_000, "call-1"),
        ended(90_000, "call-1", "agent"),
    ]
    records, calls = streamed(call)
    [record] = records
    assert (record.kind, record.steps, record.last_step, record.pressed_zero, record.outcome) == (
        "call",
        ("1 query", "1-1 query.realtime_charges"),
        "1 query",
        True,
        "agent",
    )
    assert (record.lead_in_variant, record.busy_period, record.brand) == (
        "changsha.mzone.idle",
        True,
        "mzone",
    )
    assert calls is None, "nothing is kept of a call that was not self-service"
    assert streamed(call)[0][0].call_id == record.call_id, "a replay writes the same row"


def test_a_silent_call_is_over_after_the_timeout_and_two_calls_can_overlap() -> None:
    silent = [started(0, "call-1"), web(LIVE_CALL_TIMEOUT_MS + 1, "web-1")]
    calls: Calls | None = None
    for e in silent[:1]:
        calls, _ = step(calls, MSISDN, e, ms_of(e), late=False)
    e = silent[1]
    _, [over] = step(calls, MSISDN, e, ms_of(e), late=False)
    assert (over.kind, over.outcome, over.ended_at) == ("call", None, None)

    overlapping = [started(0, "call-1"), started(60_000, "call-2"), ended(90_000, "call-2"),
                   ended(95_000, "call-1", "hangup")]  # fmt: skip
    records, _ = streamed(overlapping)
    assert [(r.kind, r.outcome, r.started_at - T0) for r in records] == [
        ("call", "self_service", timedelta(seconds=60)),
        ("recontacted", None, timedelta(seconds=60)),  # by the first call's end
        ("call", "hangup", timedelta(0)),
    ]


def test_recontact_exactly_at_the_end_of_the_window_counts_and_a_millisecond_later_not() -> None:
    call = [started(0, "call-1"), ended(30_000, "call-1")]
    again, _ = streamed([*call, web(30_000 + CONTAINMENT_WINDOW_MS, "web-1")])
    assert [r.kind for r in again] == ["call", "recontacted"]
    later, _ = streamed([*call, web(30_000 + CONTAINMENT_WINDOW_MS + 1, "web-1")])
    assert [r.kind for r in later] == ["call"]


def test_the_calls_own_session_and_an_agent_request_do_not_count_for_containment() -> None:
    handled = {"agent_id": "A0001", "topic": "query.monthly_bill", "resolved": True,
               "handle_s": 120.0, "self_serviceable": True}  # fmt: skip
    own, _ = streamed([
        started(0, "call-1"), ended(30_000, "call-1"),
        at(60_000, "agent.request_handled", "call-1", **handled),
    ])  # fmt: skip
    assert [r.kind for r in own] == ["call"]
    pressed, _ = streamed(
        [started(0, "call-1"), zero(5_000, "call-1"), ended(30_000, "call-1"), web(60_000, "w")]
    )
    assert [r.kind for r in pressed] == ["call"]


def test_a_late_event_starts_no_call_and_the_state_empties() -> None:
    e = started(0, "call-1")
    calls, done = step(None, MSISDN, e, ms_of(e), late=True)
    assert (calls, done) == (None, [])
    _, calls = streamed([started(0, "call-1"), ended(30_000, "call-1")])
    assert calls is None, "the self-service call's window has passed"


@st.composite
def journeys(draw: st.DrawFn) -> list[Event]:
    """One subscriber's events in time order: calls (ended or not), some begun before the one
    before has ended, at most MAX_LIVE at once, and sessions of other channels between and
    across them."""
    events: list[Event] = []
    t = 0
    live_until: list[int] = []  # per call: its end, or when it times out
    for i in range(draw(st.integers(1, 8))):
        t += draw(st.sampled_from([1, 60_000, HOUR, LIVE_CALL_TIMEOUT_MS + 1, 23 * HOUR,
                                   CONTAINMENT_WINDOW_MS, 30 * HOUR]))  # fmt: skip
        if draw(st.booleans()):
            web_at = t + draw(st.sampled_from([0, 1, 60_000, 25 * HOUR]))
            events += [web(t, f"web-{i}"), web(web_at, f"web-{i}")]
            continue
        live = [u for u in live_until if u >= t]
        if len(live) >= MAX_LIVE:
            t = max(live) + 1
        session, at = f"call-{i}", t
        events.append(started(at, session, busy=draw(st.booleans())))
        for key_path, item in draw(st.lists(st.sampled_from(STEPS), max_size=6)):
            at += draw(st.integers(1, 600_000))
            events.append(menu(at, session, key_path, item))
        if draw(st.booleans()):
            at += draw(st.integers(1, 60_000))
            events.append(zero(at, session))
        if draw(st.integers(0, 3)):
            at += draw(st.sampled_from([1, 30_000, 1_200_000]))
            events.append(ended(at, session, draw(st.sampled_from(OUTCOMES))))
            live_until.append(at)
        else:
            live_until.append(at + LIVE_CALL_TIMEOUT_MS + 1)
        if draw(st.booleans()):
            t = at  # the next session after this call, else while it is in progress
    return sorted(events, key=ms_of)


@settings(max_examples=200, deadline=None)
@given(journeys())
def test_streamed_summaries_equal_the_calls_grouped_from_the_stored_events(
    events: list[Event],
) -> None:
    records, calls = streamed(events)
    assert summarised(records) == in_bulk(events)
    assert len({r.call_id for r in records}) == len(records)
    assert calls is None
