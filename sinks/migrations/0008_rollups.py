"""Aggregate tables of ``events`` for the dashboard at a province's volume, and their fill
from the events already stored (a materialized view sees only rows inserted after it)."""

from sinks.migrations.statements import creates, fills

ROLLUPS = (
    "volume_per_five_minutes",
    "events_ingested_per_second",
    "events_per_partition_minute",
    "sms_texts_per_minute",
    "sms_unknown_texts_per_minute",
    "self_service_per_minute",
    "hall_functions_per_minute",
)

OPERATIONS: tuple[str, ...] = creates(*ROLLUPS) + fills(*ROLLUPS)
