"""Calls follow the real menu, and queue outcomes are consistent with the queue's timeline."""

import statistics
from datetime import datetime
from typing import Any

from channelhub.simulator.catalog import CAMPAIGN_ITEM, IVR_MENU, SELF_SERVICE_TOPICS

LEVEL2 = {f"{k1}-{k2}": item for k1, b in IVR_MENU.items() for k2, item in b.items.items()}
BRANCH_ORDERED = {"2", "3"}


def _ms(event: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(event["occurred_at"]).timestamp() * 1000)


def calls(sessions: dict[str, list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    return [s for sid, s in sessions.items() if sid.startswith("ivr-")]


def test_calls_start_with_the_lead_in_and_end_once(
    sessions: dict[str, list[dict[str, Any]]],
) -> None:
    for call in calls(sessions):
        first = call[0]
        assert first["event_type"] == "ivr.call_started"
        busy = "busy" if first["attributes"]["busy_period"] else "idle"
        assert first["attributes"]["lead_in_variant"] == (
            f"{first['prefecture']}.{first['brand']}.{busy}"
        )
        ended = [e for e in call if e["event_type"] == "ivr.call_ended"]
        if ended:  # calls still running when the sample stops have not ended yet
            assert len(ended) == 1
            assert call[-1] is ended[0]


def test_menu_selections_follow_the_real_menu(sessions: dict[str, list[dict[str, Any]]]) -> None:
    """Level 1 then level 2; keys 2 and 3 hold the branch's own order, the others the menu's."""
    branch_order: dict[tuple[str, str], str] = {}
    for call in calls(sessions):
        chosen = [e["attributes"] for e in call if e["event_type"] == "ivr.menu_selected"]
        if not chosen:
            continue
        key1 = chosen[0]["key_path"]
        assert chosen[0]["item"] == IVR_MENU[key1].area
        if len(chosen) == 1:  # the campaign, or a call the sample cut short
            assert key1 == "5" or call[-1]["event_type"] == "ivr.menu_selected"
            continue
        key_path, item = chosen[1]["key_path"], chosen[1]["item"]
        assert key_path.startswith(f"{key1}-")
        if key1 in BRANCH_ORDERED:
            assert item in IVR_MENU[key1].items.values()
            place = (call[0]["prefecture"], key_path)
            assert branch_order.setdefault(place, item) == item  # stable per branch
        else:
            assert LEVEL2[key_path] == item


def test_queue_outcomes_match_the_timeline(sessions: dict[str, list[dict[str, Any]]]) -> None:
    answered = abandoned = 0
    for call in calls(sessions):
        by_type = {e["event_type"]: e for e in call}
        entered = by_type.get("ivr.queue_entered")
        if entered is None:
            continue
        assert "ivr.agent_requested" in by_type
        if "ivr.agent_answered" in by_type:
            answer = by_type["ivr.agent_answered"]
            assert _ms(answer) - _ms(entered) == round(answer["attributes"]["wait_s"] * 1000)
            handled = by_type.get("agent.request_handled")
            if handled:
                topic = handled["attributes"]["topic"]
                assert handled["channel"] == "agent"
                assert handled["attributes"]["agent_id"] == answer["attributes"]["agent_id"]
                assert handled["attributes"]["self_serviceable"] == (topic in SELF_SERVICE_TOPICS)
                assert topic == by_type["ivr.agent_requested"]["attributes"]["topic"]
            answered += 1
        elif "ivr.abandoned" in by_type:
            gone = by_type["ivr.abandoned"]
            assert _ms(gone) - _ms(entered) == round(gone["attributes"]["wait_s"] * 1000)
            assert by_type["ivr.call_ended"]["attributes"]["outcome"] == "abandoned"
            abandoned += 1
    assert answered > 1000
    assert abandoned > 50


def test_an_agent_takes_one_caller_at_a_time(events: list[dict[str, Any]]) -> None:
    """Between answering a call and handling it, the agent answers nobody else."""
    busy_until: dict[str, int] = {}
    requests = {e["session_id"]: e for e in events if e["event_type"] == "agent.request_handled"}
    for event in events:
        if event["event_type"] != "ivr.agent_answered":
            continue
        agent, t = event["attributes"]["agent_id"], _ms(event)
        assert t >= busy_until.get(agent, 0), agent
        handled = requests.get(event["session_id"])
        if handled:
            busy_until[agent] = _ms(handled)


def test_waits_are_longer_in_busy_periods(events: list[dict[str, Any]]) -> None:
    """Nothing draws waits: they grow because the plan under-staffs the month-end surge."""
    busy_of = {
        e["session_id"]: e["attributes"]["busy_period"]
        for e in events
        if e["event_type"] == "ivr.queue_entered"
    }
    waits: dict[bool, list[float]] = {True: [], False: []}
    for e in events:
        if e["event_type"] in ("ivr.agent_answered", "ivr.abandoned"):
            waits[busy_of[e["session_id"]]].append(e["attributes"]["wait_s"])
    assert statistics.fmean(waits[True]) > statistics.fmean(waits[False])


def test_the_campaign_key_plays_the_quiz(sessions: dict[str, list[dict[str, Any]]]) -> None:
    quizzes = [
        e for call in calls(sessions) for e in call
        if e["event_type"] == "ivr.self_service_completed" and e["attributes"]["key_path"] == "5"
    ]  # fmt: skip
    assert quizzes
    assert all(e["attributes"]["item"] == CAMPAIGN_ITEM for e in quizzes)
