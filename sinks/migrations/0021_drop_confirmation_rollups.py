"""Drop the per-hour SMS dialogue table of migration 0010 and its view.

Nothing reads it since the SMS hall's confirmations read the dialogues the nudge stage
summarises (migration 0020), yet its view still aggregated every inserted SMS confirmation
event: work on the sink's insert path (each view makes a part of its table at every insert),
disk, and rows for a key rotation to rewrite. The view goes before its table, so no insert
finds a view without the table it writes to.
"""

OPERATIONS: tuple[str, ...] = (
    "DROP TABLE IF EXISTS {db}.sms_confirmations_per_hour_mv",
    "DROP TABLE IF EXISTS {db}.sms_confirmations_per_hour",
)
