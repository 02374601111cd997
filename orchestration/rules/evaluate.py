"""Which rules an event fires, and the SMS each asks for: a pure function of its inputs.

``journey`` is the subscriber's state *before* the event: the stream worker evaluates first,
then folds the event into the journey with :func:`orchestration.journey.apply`. Each request
gets a nudge id derived from the rule and the triggering event, so a replayed event asks for
the same nudge again and the guardrails can drop the repeat.
"""

from collections.abc import Iterable

from orchestration.journey import Journey
from orchestration.rules.compile import Rule
from schemas.envelope import Envelope
from schemas.events import event_type_of
from schemas.nudges import NudgeRequest, nudge_id


def evaluate(rules: Iterable[Rule], event: Envelope, journey: Journey) -> list[NudgeRequest]:
    """The nudges ``event`` triggers, in rule order; none for an event without an MSISDN."""
    msisdn = event.msisdn
    if msisdn is None:
        return []
    event_type = event_type_of(event)
    requests = []
    for rule in rules:
        if not rule.enabled or not rule.matches(event, event_type, journey):
            continue
        text, goal = rule.render(event, event_type, journey)
        requests.append(
            NudgeRequest(
                nudge_id=nudge_id(rule.id, event.event_id),
                rule_id=rule.id,
                trigger_event_id=event.event_id,
                msisdn=msisdn,
                prefecture=event.prefecture,
                brand=event.brand,
                text=text,
                template_version=rule.template_version,
                goal=goal,
                requested_at=event.occurred_at,
                send_at=event.occurred_at + rule.delay,
            )
        )
    return requests
