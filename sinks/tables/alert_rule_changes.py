"""``channelhub.alert_rule_changes``: alert rules changed (or reset) on the queue page.

One row per change. The effective rules are the rules file with each rule's newest change laid
over it (:mod:`dashboards.alerts.changes`); :data:`LATEST` is that newest change per rule.
"""

from datetime import datetime
from typing import Any

import orjson

from kernel.pseudonym import Pseudonymizer
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    flag,
    insert_statement,
    moment,
    number,
    present_ids_query,
    recent_ids_query,
    text,
    uint,
)

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

#: The row's own time (the partition key), around which its id is looked up.
EVENT_TIME = COLUMNS.index("at")

RECENT_IDS = recent_ids_query(TABLE, "change_id")

PRESENT_IDS = present_ids_query(TABLE, "change_id", "at")

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
    change_id = text(e["change_id"])
    threshold, window, severity = e["threshold"], e["window_minutes"], e["severity"]
    return change_id, (
        change_id,
        text(e["rule_id"]),
        moment(e["at"]),
        text(e["changed_by"]),
        flag(e["reset"]),
        None if threshold is None else number(threshold),
        None if window is None else uint(window, 16),
        None if severity is None else text(severity),
        uint(partition, 16),
        uint(offset, 64),
        ingested_at,
    )
