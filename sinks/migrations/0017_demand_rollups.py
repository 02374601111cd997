"""Aggregate tables of the requests for catalogue entries per key by hour and by minute, for
the unmet demand of retired entries (:mod:`sinks.tables.demand_rollups`: which SMS texts they
keep, and why no other), and their fill from the events already stored, a share of the
subscribers at a time (a materialized view sees only rows inserted after it)."""

from sinks.migrations.statements import creates, fills

ROLLUPS = ("demand_per_hour", "demand_per_minute")

OPERATIONS: tuple[str, ...] = creates(*ROLLUPS) + fills(*ROLLUPS)
