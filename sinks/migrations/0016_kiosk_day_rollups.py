"""Aggregate tables of ``events`` per kiosk terminal by six-hour block and by UTC day, so the
kiosks page reads a week of a province's terminals from whole days, and their fill from the
events already stored (a materialized view sees only rows inserted after it)."""

from sinks.migrations.statements import creates, fills

ROLLUPS = ("kiosk_terminals_per_six_hours", "kiosk_terminals_per_day")

OPERATIONS: tuple[str, ...] = creates(*ROLLUPS) + fills(*ROLLUPS)
