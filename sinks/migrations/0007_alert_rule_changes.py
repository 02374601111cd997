"""Alert rules changed on the queue page."""

from sinks.migrations.statements import creates

OPERATIONS: tuple[str, ...] = creates("alert_rule_changes")
