"""``channelhub.alert_rule_changes``: alert rules changed (or reset) on the queue page.

One row per change. The effective rules are the rules file with each rule's newest change laid
over it (:mod:`dashboards.alerts.changes`); :data:`LATEST` is that newest change per rule.
"""

from datetime import datetime
from typing import Any

import orjson

from sinks.engines import replacing_merge_tree
from sinks.pseudonym import Pseudonymizer
from sinks.tables import insert_statement, recent_ids_query

TABLE = "alert_rule_changes"

CREATE_ALERT_RULE_CHANGES = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{TABLE} (
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

INSERT = insert_statement(TABLE, COLUMNS)

RECENT_IDS = recent_ids_query(TABLE, "change_id")

#: The newest change of every rule; one rule's changes share a partition (its key), so within
#: one second the offset orders them.
LATEST = f"""
SELECT rule_id, change_id, at, changed_by, reset, threshold, window_minutes, severity
FROM {{db}}.{TABLE} FINAL
ORDER BY rule_id, at DESC, kafka_offset DESC
LIMIT 1 BY rule_id
"""


def row(
    value: bytes,
    *,
    partition: int,
    offset: int,
    ingested_at: datetime,
    pseudonymize: Pseudonymizer,
) -> tuple[str, tuple[Any, ...]]:
    """The change id and the row for one message of ``alerts.rules`` (no personal data)."""
    e = orjson.loads(value)
    return e["change_id"], (
        e["change_id"],
        e["rule_id"],
        datetime.fromisoformat(e["at"]),
        e["changed_by"],
        int(e["reset"]),
        e["threshold"],
        e["window_minutes"],
        e["severity"],
        partition,
        offset,
        ingested_at,
    )
