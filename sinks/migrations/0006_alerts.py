"""Queue alerts opened and cleared."""

from sinks.migrations.statements import creates

OPERATIONS: tuple[str, ...] = creates("alert_events")
