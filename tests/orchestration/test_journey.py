"""The journey fold: a call's lifecycle, SMS dialogues, bounds, purity, serialisation."""

import msgspec
import pytest

from orchestration.journey import (
    KEEP_MS,
    LIVE_CALL_TIMEOUT_MS,
    MAX_AGENT_CONTACTS,
    MAX_FUNCTIONS,
    Journey,
    agent_contacts_since,
    apply,
    in_agent_queue,
    in_live_call,
    to_ms,
)
from tests.orchestration.events import make


def fold(events: list, journey: Journey | None = None) -> Journey:
    journey = journey or Journey()
    for event in events:
        journey = apply(journey, event)
    return journey


def test_a_call_sets_and_clears_live_call_and_queue() -> None:
    steps = [
        (make("ivr.call_started", {"lead_in_variant": "x", "busy_period": False}, 0), True, False),
        (make("ivr.menu_selected", {"key_path": "1-1", "item": "query.realtime_charges"}, 5),
         True, False),
        (make("ivr.agent_requested", {"key_path": "1-1-0", "topic": "query.realtime_charges"}, 9),
         True, False),
        (make("ivr.queue_entered", {"queue": "general", "position": 4, "busy_period": True}, 10),
         True, True),
        (make("ivr.agent_answered", {"agent_id": "A0001", "wait_s": 75.0}, 85), True, False),
        (make("ivr.call_ended", {"duration_s": 300.0, "outcome": "agent"}, 300), False, False),
    ]  # fmt: skip
    journey = Journey()
    for event, live, queued in steps:
        journey = apply(journey, event)
        now = to_ms(event.occurred_at)
        assert (in_live_call(journey, now), in_agent_queue(journey, now)) == (live, queued)
        if journey.call is not None and event.event_type == "ivr.agent_answered":
            assert journey.call.busy_period  # queue_entered refined the call-start flag
            assert journey.call.item == "query.realtime_charges"
    assert journey.channel_last_ms == {"ivr": to_ms(steps[-1][0].occurred_at)}


def test_abandoning_leaves_the_queue_but_not_the_call() -> None:
    journey = fold([
        make("ivr.call_started", {"lead_in_variant": "x", "busy_period": True}, 0),
        make("ivr.queue_entered", {"queue": "general", "position": 1, "busy_period": True}, 10),
        make("ivr.abandoned", {"wait_s": 40.0}, 50),
    ])  # fmt: skip
    now = to_ms(make("ivr.abandoned", {"wait_s": 40.0}, 50).occurred_at)
    assert in_live_call(journey, now)
    assert not in_agent_queue(journey, now)


def test_a_call_whose_end_was_lost_stops_counting_as_live() -> None:
    journey = fold([make("ivr.call_started", {"lead_in_variant": "x", "busy_period": False})])
    start = journey.call.last_ms  # type: ignore[union-attr]
    assert in_live_call(journey, start + LIVE_CALL_TIMEOUT_MS)
    assert not in_live_call(journey, start + LIVE_CALL_TIMEOUT_MS + 1)


def test_events_of_another_call_do_not_touch_the_current_one() -> None:
    journey = fold([
        make("ivr.call_started", {"lead_in_variant": "x", "busy_period": False}, 0),
        make("ivr.call_ended", {"duration_s": 1.0, "outcome": "hangup"}, 5, session_id="old"),
    ])  # fmt: skip
    assert journey.call is not None
    assert journey.call.session_id == "call-1"


def test_sms_dialogue_marks_the_result_reply_after_a_successful_service() -> None:
    done = {"code": "0101", "service": "query.realtime_charges", "success": True}
    reply = {"segments": 1, "characters": 60, "long_sms": False}
    journey = fold([make("sms.service_completed", done, 0, session_id="d1")])
    assert journey.sms is not None
    assert journey.sms.result_reply_due
    journey = apply(journey, make("sms.reply_sent", reply, 1, session_id="d1"))
    assert journey.sms is not None
    assert not journey.sms.result_reply_due
    assert journey.function_last_ms == {"sms:query.realtime_charges": to_ms(
        make("sms.service_completed", done, 0).occurred_at
    )}  # fmt: skip


def test_recent_agent_contacts_are_counted_and_bounded() -> None:
    handled = {
        "agent_id": "A0001", "topic": "query.points", "resolved": True, "handle_s": 90.0,
        "self_serviceable": True,
    }  # fmt: skip
    events = [make("agent.request_handled", handled, 3600 * i) for i in range(40)]
    journey = fold(events)
    assert len(journey.agent_contacts_ms) == MAX_AGENT_CONTACTS
    last = to_ms(events[-1].occurred_at)
    assert agent_contacts_since(journey, last - 3 * 3_600_000) == 4


def test_functions_are_bounded_in_number_and_age() -> None:
    events = [
        make("web.function_used", {"function": f"f.{i}"}, 60 * i) for i in range(MAX_FUNCTIONS + 20)
    ]
    journey = fold(events)
    assert len(journey.function_last_ms) == MAX_FUNCTIONS
    assert "web:f.51" in journey.function_last_ms
    assert "web:f.0" not in journey.function_last_ms
    later = make("wap.function_used", {"function": "bill.realtime"}, KEEP_MS / 1000 + 3600 * 24)
    journey = apply(journey, later)
    assert journey.function_last_ms == {"wap:bill.realtime": to_ms(later.occurred_at)}
    assert set(journey.channel_last_ms) == {"wap"}
    assert len(msgspec.json.encode(journey)) < 4096


def test_apply_is_pure_and_journeys_round_trip() -> None:
    start = make("ivr.call_started", {"lead_in_variant": "x", "busy_period": True})
    before = Journey()
    after = apply(before, start)
    assert before == Journey()
    encoded = msgspec.msgpack.encode(after)
    assert msgspec.msgpack.decode(encoded, type=Journey) == after


@pytest.mark.parametrize("outcome", ["self_service", "abandoned", "hangup"])
def test_every_call_outcome_ends_the_call(outcome: str) -> None:
    journey = fold([
        make("ivr.call_started", {"lead_in_variant": "x", "busy_period": False}, 0),
        make("ivr.call_ended", {"duration_s": 9.0, "outcome": outcome}, 9),
    ])  # fmt: skip
    assert journey.call is None


def test_events_without_a_subscriber_leave_the_journey_alone() -> None:
    fault = make(
        "kiosk.terminal_fault",
        {"terminal_id": "K0001", "fault_code": "printer.jam", "severity": "error"},
        msisdn=None,
        brand=None,
    )
    journey = Journey()
    assert apply(journey, fault) is journey
