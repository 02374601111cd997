"""Aggregate tables of ``events`` per kiosk terminal by hour and by minute for the kiosks
page, and their fill from the events already stored (a materialized view sees only rows
inserted after it)."""

from sinks.migrations.statements import creates, fills

ROLLUPS = ("kiosk_terminals_per_hour", "kiosk_terminals_per_minute")

OPERATIONS: tuple[str, ...] = creates(*ROLLUPS) + fills(*ROLLUPS)
