"""``channelhub.alert_rule_changes``: alert rules changed (or reset) on the queue page.

One row per change. The effective rules are the rules file with each rule's newest change laid
over it (:mod:`dashboards.alerts.changes`); :data:`LATEST` is that newest change per rule.
"""

from typing import Any

from kernel.pseudonym import Pseudonymizer
from schemas.alerts import RuleChange
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    Table,
    moment,
    uint,
)

NAME = "alert_rule_changes"

CREATE_ALERT_RULE_CHANGES = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
    change_id String,
    rule_id String,
    at DateTime('UTC'),
    changed_by String,
    reset UInt8,
    threshold Nullable(Float64),
    window_minutes Nullable(UInt16),
    severity Nullable(String),
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {replacing_merge_tree(partition_by="toYYYYMM(at)", order_by="rule_id, at, change_id")}
"""

COLUMNS = (
    "change_id", "rule_id", "at", "changed_by", "reset", "threshold", "window_minutes",
    "severity", "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip


#: The newest change of every rule; one rule's changes share a partition (its key), so within
#: one second the offset orders them.
LATEST = f"""
SELECT rule_id, change_id, at, changed_by, reset, threshold, window_minutes, severity
FROM {{db}}.{NAME} FINAL
ORDER BY rule_id, at DESC, kafka_offset DESC
LIMIT 1 BY rule_id
"""


def _values(c: RuleChange, _pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The change id and the row of one ``alerts.rules`` record (no personal data)."""
    window = c.window_minutes
    return c.change_id, (
        c.change_id,
        c.rule_id,
        moment(c.at),
        c.changed_by,
        int(c.reset),
        c.threshold,
        None if window is None else uint(window, 16),
        c.severity,
    )


TABLE = Table[RuleChange](
    name=NAME,
    create_statements=(CREATE_ALERT_RULE_CHANGES,),
    columns=COLUMNS,
    id_column="change_id",
    time_column="at",
    values=_values,
)
