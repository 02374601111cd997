"""Nudge requests and guardrail decisions."""

from sinks.migrations.statements import creates

OPERATIONS: tuple[str, ...] = creates("nudge_requests", "nudge_decisions")
