"""Rebuild ``nudge_decisions`` with the reason in its key.

Keyed by rule, nudge, instant and outcome, two suppressions of one nudge at one instant (a
campaign chunk's ``budget_exhausted``, then its ``duplicate`` when the chunk is delivered again)
were one row to ``ReplacingMergeTree``: a merge kept one and the other reason was lost.
ClickHouse cannot add an existing column to a sorting key, so the rows move through a staging
table: copied out, the table made again with the key of :mod:`sinks.tables.nudge_decisions`,
copied back. Only CREATE, INSERT and DROP, so it runs on a cluster as on one server. A new
database, whose table migration 0002 already made with the new key, copies an empty table.

Interrupted, it runs again without loss: a copy from a table already dropped is skipped by the
runner (:func:`sinks.migrations.copied_from`), and rows copied twice are whole-row duplicates
that the table's own key collapses. Like every migration it runs before the sink starts
(``channelhub up`` migrates first): a row inserted between the copy out and the drop would be
lost.
"""

from sinks.migrations.statements import creates
from sinks.tables.nudge_decisions import CREATE_NUDGE_DECISIONS, NAME

STAGING = f"{NAME}_rekeyed"

OPERATIONS: tuple[str, ...] = (
    CREATE_NUDGE_DECISIONS.replace(f"{{db}}.{NAME} (", f"{{db}}.{STAGING} (", 1),
    f"INSERT INTO {{db}}.{STAGING} SELECT * FROM {{db}}.{NAME}",
    f"DROP TABLE IF EXISTS {{db}}.{NAME}",
    *creates(NAME),
    f"INSERT INTO {{db}}.{NAME} SELECT * FROM {{db}}.{STAGING}",
    f"DROP TABLE IF EXISTS {{db}}.{STAGING}",
)
