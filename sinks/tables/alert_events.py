"""``channelhub.alert_events``: every queue alert opened and cleared, as the evaluator recorded it.

One row per transition. The alert's history is the table; whether an alert is open now is
the newest row of its rule (``alert.opened`` without a later ``alert.cleared``), which is also
how a restarted evaluator learns what it had open (:mod:`dashboards.alerts.service`).
"""

from datetime import datetime
from typing import Any

import orjson

from kernel.pseudonym import Pseudonymizer
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    insert_statement,
    moment,
    number,
    present_ids_query,
    recent_ids_query,
    text,
    uint,
)

TABLE = "alert_events"

CREATE_ALERT_EVENTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{TABLE} (
    event_id String,
    event_type String,
    alert_id String,
    rule_id String,
    kind String,
    severity String,
    threshold Float64,
    window_minutes UInt16,
    value Nullable(Float64),
    at DateTime('UTC'),
    message String,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {replacing_merge_tree(partition_by="toYYYYMM(at)", order_by="rule_id, at, event_id")}
"""

COLUMNS = (
    "event_id", "event_type", "alert_id", "rule_id", "kind", "severity", "threshold",
    "window_minutes", "value", "at", "message", "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip

INSERT = insert_statement(TABLE, COLUMNS)

#: The row's own time (the partition key), around which its id is looked up.
EVENT_TIME = COLUMNS.index("at")

RECENT_IDS = recent_ids_query(TABLE, "event_id")

PRESENT_IDS = present_ids_query(TABLE, "event_id", "at")

#: The newest transition of every rule: the alerts open now are those whose newest is opened.
#: Within one second the offset orders them (a rule's records share a partition: its key).
LATEST = f"""
SELECT rule_id, argMax(event_type, (at, kafka_offset)), argMax(alert_id, (at, kafka_offset)),
       max(at)
FROM {{db}}.{TABLE} FINAL
GROUP BY rule_id
"""


def row(
    value: bytes,
    *,
    partition: int,
    offset: int,
    ingested_at: datetime,
    pseudonymize: Pseudonymizer,
) -> tuple[str, tuple[Any, ...]]:
    """The event id and the row for one message of ``alerts.events`` (no personal data)."""
    e = orjson.loads(value)
    event_id = text(e["event_id"])
    reading = e["value"]
    return event_id, (
        event_id,
        text(e["event_type"]),
        text(e["alert_id"]),
        text(e["rule_id"]),
        text(e["kind"]),
        text(e["severity"]),
        number(e["threshold"]),
        uint(e["window_minutes"] or 0, 16),
        None if reading is None else number(reading),
        moment(e["at"]),
        text(e["message"]),
        uint(partition, 16),
        uint(offset, 64),
        ingested_at,
    )
