"""Records of the queue alerts: alerts opened and cleared, and alert rules changed on the page.

The evaluator (:mod:`dashboards.alerts.service`) writes :class:`AlertEvent` to ``alerts.events``
keyed by rule; the queue page (:mod:`dashboards.alerts.changes`) writes :class:`RuleChange` to
``alerts.rules`` keyed by rule. The sink projects them into ``alert_events`` and
``alert_rule_changes``, from which the evaluator and the page read them back.
"""

from datetime import datetime
from typing import Annotated, Literal

import msgspec

#: An alert rule's window, as the rules allow it (``dashboards.alerts.rules``).
WindowMinutes = Annotated[int, msgspec.Meta(ge=1, le=240)]


class AlertEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One record on the alerts topic (and one row of ``alert_events``)."""

    event_id: str
    event_type: Literal["alert.opened", "alert.cleared"]
    alert_id: str
    rule_id: str
    kind: str
    severity: str
    threshold: float
    window_minutes: WindowMinutes | None
    value: float | None
    """The reading that opened or cleared it; ``None`` when there was none (no calls)."""
    at: datetime
    message: str


class RuleChange(msgspec.Struct, frozen=True, kw_only=True):
    """One rule's values as set on the page (all of them, not a difference), or its reset."""

    change_id: str
    rule_id: str
    at: datetime
    changed_by: str
    reset: bool = False
    threshold: float | None = None
    window_minutes: WindowMinutes | None = None
    severity: str | None = None
