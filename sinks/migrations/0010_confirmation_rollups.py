"""The aggregate table of SMS confirmation dialogues by session and hour for the SMS hall, and
its fill from the events already stored (a materialized view sees only rows inserted after
it)."""

from sinks.migrations.statements import creates, fills

ROLLUPS = ("sms_confirmations_per_hour",)

OPERATIONS: tuple[str, ...] = creates(*ROLLUPS) + fills(*ROLLUPS)
