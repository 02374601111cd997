"""Each shipped rule fires on its trigger and not on the near misses around it.

A scenario is a short list of one subscriber's events; the journey is folded the way the
stream worker does it (evaluate on the state before the event, then apply the event) and the
test looks at which rules fired on the last event.
"""

import copy
import dataclasses
from datetime import timedelta
from typing import Any

import msgspec
import pytest

from orchestration.journey import Journey, apply
from orchestration.rules import Rule, evaluate, load_shipped_rules
from schemas import Event
from schemas.nudges import NudgeRequest, nudge_id
from tests.orchestration.events import make

RULES: list[Rule] = load_shipped_rules()


def run(events: list[Event]) -> list[NudgeRequest]:
    """The nudges the last event triggers, after folding the earlier ones."""
    journey = Journey()
    for event in events[:-1]:
        journey = apply(journey, event)
    return evaluate(RULES, events[-1], journey)


def fired(events: list[Event]) -> set[str]:
    return {n.rule_id for n in run(events)}


def call(
    *, busy: bool = True, item: str | None = "query.realtime_charges", end: str = "answered",
    wait_s: float = 61.0,
) -> list[Event]:  # fmt: skip
    """A call that asks for an agent after choosing ``item`` (None: pressed 0 straight away)."""
    events = [make("ivr.call_started", {"lead_in_variant": "x", "busy_period": False}, 0)]
    if item is not None:
        events.append(make("ivr.menu_selected", {"key_path": "1-1", "item": item}, 5))
    topic = item or "unknown"
    events += [
        make("ivr.agent_requested", {"key_path": "1-1-0", "topic": topic}, 8),
        make("ivr.queue_entered", {"queue": "general", "position": 3, "busy_period": busy}, 9),
    ]
    if end == "answered":
        events.append(make("ivr.agent_answered", {"agent_id": "A0001", "wait_s": wait_s}, 70))
    else:
        events.append(make("ivr.abandoned", {"wait_s": wait_s}, 70))
    return events


def handled(**changes: Any) -> list[Event]:
    attributes = {
        "agent_id": "A0001", "topic": "query.monthly_bill", "resolved": True, "handle_s": 120.0,
        "self_serviceable": True, **changes,
    }  # fmt: skip
    return [make("agent.request_handled", attributes)]


def self_service(item: str, success: bool = True) -> list[Event]:
    attributes = {"key_path": "1-1", "item": item, "success": success}
    return [make("ivr.self_service_completed", attributes)]


def sms(service: str = "query.realtime_charges", success: bool = True, replies: int = 1) -> list:
    code = {"query.realtime_charges": "0101", "consult.promotions": "0301"}[service]
    completed = {"code": code, "service": service, "success": success}
    reply = {"segments": 1, "characters": 60, "long_sms": False}
    events = [
        make("sms.message_received", {"text": code, "matched_code": code, "match_kind": "exact"},
             0, session_id="d1"),
        make("sms.service_completed", completed, 2, session_id="d1"),
    ]  # fmt: skip
    return events + [make("sms.reply_sent", reply, 3 + i, session_id="d1") for i in range(replies)]


LONG = "ivr.long_agent_wait"
ABANDONED = "ivr.abandoned_in_queue"
NEXT_TIME = "agent.self_service_next_time"
SURVEY = "survey.satisfaction"
COPY = "ivr.charges_sms_copy"
PROMOTION = "sms.appended_promotion"

CASES: list[tuple[str, list[Event], set[str]]] = [
    ("long wait in a busy period", call(), {LONG}),
    ("exactly 60 s is not long", call(wait_s=60.0), set()),
    ("just over 60 s is", call(wait_s=60.001), {LONG}),
    ("long wait on an idle day", call(busy=False, wait_s=300.0), set()),
    ("long wait, caller pressed 0 at once", call(item=None), set()),
    ("long wait, item with no self-service way", call(item="consult.business_halls"), set()),
    ("abandoned after a known item", call(end="abandoned", wait_s=20.0), {ABANDONED}),
    ("abandoned, idle period too", call(end="abandoned", busy=False), {ABANDONED}),
    ("abandoned after pressing 0 at once", call(item=None, end="abandoned"), set()),
    ("agent handled a self-serviceable request", handled(), {NEXT_TIME, SURVEY}),
    ("agent: not self-serviceable", handled(self_serviceable=False), {SURVEY}),
    ("agent: not resolved", handled(resolved=False), {SURVEY}),
    ("agent: unknown topic", handled(topic="unknown"), {SURVEY}),
    ("agent: complaint", handled(topic="sp.complaint", self_serviceable=False), {SURVEY}),
    ("IVR real-time charges query", self_service("query.realtime_charges"), {COPY}),
    ("IVR monthly bill query", self_service("query.monthly_bill"), {COPY}),
    ("IVR charges query that failed", self_service("query.realtime_charges", False), set()),
    ("IVR points query", self_service("query.points"), set()),
    ("SMS service completed", sms(replies=0), {SURVEY}),
    ("SMS service failed", sms(success=False, replies=0), set()),
    ("SMS result reply after success", sms(), {PROMOTION}),
    ("SMS reply after the result reply", sms(replies=2), set()),
    ("SMS result reply after a failure", sms(success=False), set()),
    ("SMS service with no online way", sms("consult.promotions"), set()),
]


@pytest.mark.parametrize(("events", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_which_rules_fire(events: list[Event], expected: set[str]) -> None:
    assert fired(events) == expected


def test_a_nudge_carries_the_id_delay_goal_and_guidance() -> None:
    events = call()
    (nudge,) = run(events)
    trigger = events[-1]
    assert nudge.nudge_id == nudge_id(LONG, trigger.event_id)
    assert nudge.trigger_event_id == trigger.event_id
    assert nudge.msisdn == "13800000001"
    assert nudge.prefecture == "changsha"
    assert nudge.requested_at == trigger.occurred_at
    assert nudge.send_at == trigger.occurred_at + timedelta(seconds=300)
    assert nudge.goal == "uses_self_service:query.realtime_charges:72h"
    assert "动感地带" in nudge.text
    assert "发送0101到10086" in nudge.text


def test_abandoned_guidance_goes_sooner_than_long_wait_guidance() -> None:
    (abandoned,) = run(call(end="abandoned"))
    (long_wait,) = run(call())
    assert abandoned.send_at - abandoned.requested_at < long_wait.send_at - long_wait.requested_at


def test_events_without_an_msisdn_never_trigger() -> None:
    anonymous = copy.copy(call()[-1])
    anonymous.msisdn = None  # bypasses validation, as a buggy producer upstream might
    assert evaluate(RULES, anonymous, Journey()) == []
    fault = {"terminal_id": "K0001", "fault_code": "printer.jam", "severity": "error"}
    assert (
        evaluate(RULES, make("kiosk.terminal_fault", fault, msisdn=None, brand=None), Journey())
        == []
    )


def test_disabled_rules_do_not_fire() -> None:
    disabled = [
        dataclasses.replace(r, spec=msgspec.structs.replace(r.spec, enabled=False)) for r in RULES
    ]
    assert evaluate(disabled, handled()[0], Journey()) == []


def test_evaluation_is_deterministic_and_leaves_the_journey_alone() -> None:
    events = handled()
    journey = apply(Journey(), call()[0])
    snapshot = msgspec.json.encode(journey)
    first = evaluate(RULES, events[0], journey)
    assert evaluate(RULES, events[0], journey) == first
    assert msgspec.json.encode(journey) == snapshot
