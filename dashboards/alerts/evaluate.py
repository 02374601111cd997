"""The alert evaluator: rules and readings in, open alerts and transitions out. Pure.

An alert opens when its rule's reading crosses the threshold and clears when it no longer
does; while it stays open nothing new is said, so a rule that stays breached for an hour
makes two records, not seven hundred. A rule removed from the file clears its open alert.
The caller keeps the open alerts between rounds and decides what "now" is, so a test can
replay any sequence of readings.
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from dashboards.alerts.rules import Rule, shown
from schemas.alerts import AlertEvent

#: Event ids are uuid5 of the alert and the transition: the same transition, the same id.
_NAMESPACE = uuid.UUID("5b0f4c1e-8f2a-4f5e-9a57-2d4c7e0b9a11")


@dataclass(frozen=True)
class OpenAlert:
    alert_id: str
    rule_id: str
    opened_at: datetime


@dataclass(frozen=True)
class Evaluation:
    open: dict[str, OpenAlert]
    """Open alerts by rule id, after this round."""
    events: list[AlertEvent]
    """What changed this round, to record in this order."""


def evaluate(
    rules: Iterable[Rule],
    readings: Mapping[str, float | None],
    open_alerts: Mapping[str, OpenAlert],
    now: datetime,
) -> Evaluation:
    """One round at ``now``: ``readings`` by rule id (a missing one counts as no reading)."""
    still_open = dict(open_alerts)
    events: list[AlertEvent] = []
    seen: set[str] = set()
    for rule in rules:
        seen.add(rule.id)
        value = readings.get(rule.id)
        current = still_open.get(rule.id)
        if rule.breached(value) and current is None:
            opened = OpenAlert(f"{rule.id}@{now.isoformat()}", rule.id, now)
            still_open[rule.id] = opened
            message = f"{rule.condition}: {shown(rule.kind, value)}"
            events.append(_event("alert.opened", opened, rule, value, now, message))
        elif current is not None and not rule.breached(value):
            del still_open[rule.id]
            message = f"cleared: {rule.condition} no longer holds ({shown(rule.kind, value)})"
            events.append(_event("alert.cleared", current, rule, value, now, message))
    for rule_id in sorted(set(still_open) - seen):
        gone = still_open.pop(rule_id)
        events.append(
            AlertEvent(
                event_id=_event_id(gone, "alert.cleared"),
                event_type="alert.cleared",
                alert_id=gone.alert_id,
                rule_id=rule_id,
                kind="",
                severity="",
                threshold=0.0,
                window_minutes=None,
                value=None,
                at=now,
                message="cleared: the rule was removed",
            )
        )
    return Evaluation(open=still_open, events=events)


def _event(
    kind: Literal["alert.opened", "alert.cleared"],
    alert: OpenAlert,
    rule: Rule,
    value: float | None,
    now: datetime,
    message: str,
) -> AlertEvent:
    return AlertEvent(
        event_id=_event_id(alert, kind),
        event_type=kind,
        alert_id=alert.alert_id,
        rule_id=rule.id,
        kind=rule.kind,
        severity=rule.severity,
        threshold=rule.threshold,
        window_minutes=rule.window_minutes,
        value=value,
        at=now,
        message=message,
    )


def _event_id(alert: OpenAlert, kind: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{alert.alert_id}:{kind}"))
