"""Queue alerts opened and cleared."""

from sinks.tables import alert_events

OPERATIONS: tuple[str, ...] = (alert_events.CREATE_ALERT_EVENTS,)
