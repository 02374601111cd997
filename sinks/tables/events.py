"""Canonical events: ``channelhub.events`` and the per-minute volume view on top of it.

One row per event. ``ReplacingMergeTree`` keyed on the event's own fields (ending in
``event_id``) means a duplicate that slips past the sink still collapses on merge and under
``FINAL``. The volume view is a ``SummingMergeTree`` fed by a materialized view; it counts what
is inserted, which is why the sink removes duplicates before inserting.
"""

from datetime import datetime
from typing import Any

import orjson

from kernel.pseudonym import Pseudonymizer
from schemas.events import PERSONAL_ATTRIBUTES
from sinks.engines import replacing_merge_tree, summing_merge_tree
from sinks.tables import (
    insert_statement,
    moment,
    present_ids_query,
    recent_ids_query,
    text,
    uint,
)

TABLE = "events"

CREATE_EVENTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{TABLE} (
    event_id String,
    event_type String,
    channel String,
    occurred_at DateTime('UTC'),
    occurred_ms UInt16,
    subscriber String,
    session_id String,
    prefecture String,
    brand String,
    attributes String,
    schema_version UInt8,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {
    replacing_merge_tree(
        partition_by="toYYYYMM(occurred_at)",
        order_by="channel, event_type, occurred_at, event_id",
    )
}
"""

CREATE_EVENTS_PER_MINUTE = f"""
CREATE TABLE IF NOT EXISTS {{db}}.events_per_minute (
    minute DateTime('UTC'),
    channel String,
    event_type String,
    prefecture String,
    brand String,
    events UInt64
) {
    summing_merge_tree(
        partition_by="toYYYYMM(minute)",
        order_by="minute, channel, event_type, prefecture, brand",
    )
}
"""

CREATE_EVENTS_PER_MINUTE_MV = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.events_per_minute_mv
TO {{db}}.events_per_minute AS
SELECT toStartOfMinute(occurred_at) AS minute, channel, event_type, prefecture, brand,
       count() AS events
FROM {{db}}.{TABLE}
GROUP BY minute, channel, event_type, prefecture, brand
"""

COLUMNS = (
    "event_id", "event_type", "channel", "occurred_at", "occurred_ms", "subscriber",
    "session_id", "prefecture", "brand", "attributes", "schema_version",
    "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip

NEWEST = f"SELECT max(occurred_at), count() FROM {{db}}.{TABLE}"

INSERT = insert_statement(TABLE, COLUMNS)

#: The row's own time (the partition key), around which its id is looked up.
EVENT_TIME = COLUMNS.index("occurred_at")

RECENT_IDS = recent_ids_query(TABLE, "event_id")

PRESENT_IDS = present_ids_query(TABLE, "event_id", "occurred_at")


def row(
    value: bytes,
    *,
    partition: int,
    offset: int,
    ingested_at: datetime,
    pseudonymize: Pseudonymizer,
) -> tuple[str, tuple[Any, ...]]:
    """The event id and the row for one canonical message (already validated upstream)."""
    e = orjson.loads(value)
    event_id = text(e["event_id"])
    occurred = moment(e["occurred_at"])
    attributes = e["attributes"]
    if type(attributes) is not dict:
        raise TypeError(f"attributes must be an object, found {attributes!r:.100}")
    for name in PERSONAL_ATTRIBUTES.intersection(attributes):
        attributes[name] = pseudonymize(text(attributes[name]))
    msisdn = e.get("msisdn")
    return event_id, (
        event_id,
        text(e["event_type"]),
        text(e["channel"]),
        occurred,
        occurred.microsecond // 1000,
        pseudonymize(text(msisdn)) if msisdn else "",
        text(e["session_id"]),
        text(e["prefecture"]),
        text(e.get("brand") or ""),
        orjson.dumps(attributes).decode(),
        uint(e["schema_version"], 8),
        uint(partition, 16),
        uint(offset, 64),
        ingested_at,
    )
