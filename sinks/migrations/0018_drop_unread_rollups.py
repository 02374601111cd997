"""Drop the per-hour call and session tables of migration 0009 and their views.

Nothing reads them since the IVR panels read the nudge stage's call summaries (migration 0014)
and the cross-channel page its contacts (migration 0012), yet their views still aggregated
every inserted IVR event and every event of every session: work on the sink's insert path,
disk, and rows for a key rotation to rewrite. Each view goes before its table, so no insert
finds a view without the table it writes to.
"""

DROPPED = ("ivr_calls_per_hour", "contacts_per_hour")

OPERATIONS: tuple[str, ...] = tuple(
    statement
    for name in DROPPED
    for statement in (
        f"DROP TABLE IF EXISTS {{db}}.{name}_mv",
        f"DROP TABLE IF EXISTS {{db}}.{name}",
    )
)
