"""Aggregate tables of ``events`` by session and hour for the IVR panels, and their fill from
the events already stored (a materialized view sees only rows inserted after it)."""

from sinks.migrations.statements import creates, fills

ROLLUPS = ("ivr_calls_per_hour", "contacts_per_hour")

OPERATIONS: tuple[str, ...] = creates(*ROLLUPS) + fills(*ROLLUPS)
