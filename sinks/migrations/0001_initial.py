"""Canonical events, the per-minute volume view, and dead letters."""

from sinks.migrations.statements import creates

OPERATIONS: tuple[str, ...] = creates("events", "dead_letters")
