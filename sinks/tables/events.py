"""Canonical events: ``channelhub.events`` and the per-minute volume view on top of it.

One row per event. ``ReplacingMergeTree`` keyed on the event's own fields (ending in
``event_id``) means a duplicate that slips past the sink still collapses on merge and under
``FINAL``. The volume view is a ``SummingMergeTree`` fed by a materialized view; it counts what
is inserted, which is why the sink removes duplicates before inserting.
"""

from typing import Any

import msgspec

from kernel.pseudonym import Pseudonymizer
from schemas.events import PERSONAL_ATTRIBUTES, Event
from sinks.engines import replacing_merge_tree, summing_merge_tree
from sinks.tables import (
    Table,
    millis,
    moment,
    uint,
)

NAME = "events"

CREATE_EVENTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
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
FROM {{db}}.{NAME}
GROUP BY minute, channel, event_type, prefecture, brand
"""

COLUMNS = (
    "event_id", "event_type", "channel", "occurred_at", "occurred_ms", "subscriber",
    "session_id", "prefecture", "brand", "attributes", "schema_version",
    "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip

NEWEST = f"SELECT max(occurred_at), count() FROM {{db}}.{NAME}"


def _values(e: Event, pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The event id and the row of one canonical event: its MSISDN and the personal
    attributes pseudonymised (:meth:`Table.row` scrubs every text after, numbers in the
    free-text attributes included; it leaves pseudonyms as they are)."""
    occurred = moment(e.occurred_at)
    attributes = msgspec.structs.asdict(e.attributes)
    for name, value in attributes.items():
        if name in PERSONAL_ATTRIBUTES:
            attributes[name] = pseudonymize(value)
    return e.event_id, (
        e.event_id,
        e.event_type,
        e.channel,
        occurred,
        millis(occurred),
        pseudonymize(e.msisdn) if e.msisdn else "",
        e.session_id,
        e.prefecture,
        e.brand or "",
        msgspec.json.encode(attributes).decode(),
        uint(e.schema_version, 8),
    )


TABLE = Table[Event](
    name=NAME,
    create_statements=(CREATE_EVENTS, CREATE_EVENTS_PER_MINUTE, CREATE_EVENTS_PER_MINUTE_MV),
    columns=COLUMNS,
    id_column="event_id",
    time_column="occurred_at",
    values=_values,
)
