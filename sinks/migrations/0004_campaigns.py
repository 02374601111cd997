"""Campaign lifecycle events, and the ``campaigns`` and ``campaign_triggers`` views of them."""

from sinks.migrations.statements import creates

OPERATIONS: tuple[str, ...] = creates("campaign_events")
