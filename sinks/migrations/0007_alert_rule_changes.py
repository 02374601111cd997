"""Alert rules changed on the queue page."""

from sinks.tables import alert_rule_changes

OPERATIONS: tuple[str, ...] = (alert_rule_changes.CREATE_ALERT_RULE_CHANGES,)
