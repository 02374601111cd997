"""What the dispatcher sent (or could not), and the gateway's delivery receipts."""

from sinks.migrations.statements import creates

OPERATIONS: tuple[str, ...] = creates("nudge_dispatches", "nudge_receipts")
