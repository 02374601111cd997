"""The shipped rules over a day of simulated traffic: every rule fires, plausibly, repeatably.

The expected counts of the simplest rules are recomputed here from the raw events,
independently of the journey and the rule engine.
"""

from collections import Counter
from datetime import UTC, datetime

import pytest

from channelhub.simulator.engine import Engine, Scenario
from orchestration.journey import Journey, apply
from orchestration.queue_wait import QueueWaits, prediction_event
from orchestration.rules import evaluate, load_shipped_rules
from schemas import Event, Rejection, validate
from schemas.events import (
    IvrAgentAnswered,
    IvrQueueEntered,
    IvrSelfServiceCompleted,
    IvrWaitPredicted,
    SmsServiceCompletedEvent,
)
from schemas.nudges import NudgeRequest

EVENTS = 50_000
#: Midnight of 1 March in Hunan: a busy day, when callers wait for agents.
START_MS = int(datetime(2026, 2, 28, 16, 0, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def events() -> list[Event]:
    """The simulated events, each queue join followed by its wait prediction, as the wait
    predictor puts it on the subscriber's partition."""
    decoded: list[Event] = []
    waits = QueueWaits()
    for _, emitted in zip(range(EVENTS), Engine(Scenario(seed=1, start_ms=START_MS)), strict=False):
        event = validate(emitted.payload)
        assert not isinstance(event, Rejection)
        decoded.append(event)
        prediction = waits.observe(event)
        if prediction is not None and isinstance(event, IvrQueueEntered):
            decoded.append(prediction_event(event, prediction))
    return decoded


def nudges_for(events: list[Event]) -> list[NudgeRequest]:
    rules = load_shipped_rules()
    journeys: dict[str, Journey] = {}
    out: list[NudgeRequest] = []
    for event in events:
        if event.msisdn is None:
            continue
        journey = journeys.get(event.msisdn, Journey())
        out += evaluate(rules, event, journey)
        journeys[event.msisdn] = apply(journey, event)
    return out


def test_every_rule_fires_plausibly_and_deterministically(events: list[Event]) -> None:
    nudges = nudges_for(events)
    counts = Counter(n.rule_id for n in nudges)
    types = Counter(e.event_type for e in events)
    charges = sms_done = long_waits = predicted_long = 0
    for e in events:
        if isinstance(e, IvrSelfServiceCompleted) and e.attributes.success:
            charges += e.attributes.item in ("query.realtime_charges", "query.monthly_bill")
        elif isinstance(e, SmsServiceCompletedEvent):
            sms_done += e.attributes.success
        elif isinstance(e, IvrAgentAnswered):
            long_waits += e.attributes.wait_s > 60
        elif isinstance(e, IvrWaitPredicted):
            predicted_long += e.attributes.predicted_wait_s > 60
    assert counts["ivr.charges_sms_copy"] == charges > 0
    assert counts["survey.satisfaction"] == types["agent.request_handled"] + sms_done
    assert 0 < counts["sms.appended_promotion"] <= sms_done
    assert 0 < counts["agent.self_service_next_time"] <= types["agent.request_handled"]
    assert 0 < counts["ivr.abandoned_in_queue"] <= types["ivr.abandoned"]
    assert 0 < counts["ivr.long_agent_wait"] <= long_waits
    assert 0 < counts["ivr.predicted_long_wait"] <= predicted_long
    assert len({n.nudge_id for n in nudges}) == len(nudges)
    assert all(n.send_at >= n.requested_at for n in nudges)
    assert nudges_for(events) == nudges
