"""``channelhub.dead_letters``: every rejected event, why, and where it came from.

The id comes from the source position (or the collector's payload hash), so a reprocessed
message collapses onto its first dead letter. Payloads are kept for repair and replay, with any
MSISDN-looking number replaced by its pseudonym.
"""

from datetime import datetime
from typing import Any

import orjson

from kernel.pseudonym import Pseudonymizer
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    insert_statement,
    moment,
    present_ids_query,
    recent_ids_query,
    text,
    uint,
)

TABLE = "dead_letters"

CREATE_DEAD_LETTERS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{TABLE} (
    dead_letter_id String,
    reason_code String,
    field String,
    message String,
    source_topic String,
    source_partition UInt16,
    source_offset UInt64,
    received_at DateTime('UTC'),
    payload String,
    payload_bytes UInt32,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {replacing_merge_tree(partition_by="toYYYYMM(received_at)", order_by="dead_letter_id")}
"""

COLUMNS = (
    "dead_letter_id", "reason_code", "field", "message", "source_topic", "source_partition",
    "source_offset", "received_at", "payload", "payload_bytes", "kafka_partition",
    "kafka_offset", "ingested_at",
)  # fmt: skip

INSERT = insert_statement(TABLE, COLUMNS)

#: The row's own time (the partition key), around which its id is looked up.
EVENT_TIME = COLUMNS.index("received_at")

RECENT_IDS = recent_ids_query(TABLE, "dead_letter_id")

PRESENT_IDS = present_ids_query(TABLE, "dead_letter_id", "received_at")


def row(
    value: bytes,
    *,
    partition: int,
    offset: int,
    ingested_at: datetime,
    pseudonymize: Pseudonymizer,
) -> tuple[str, tuple[Any, ...]]:
    """The dead-letter id and the row for one message of the dead-letter topic."""
    d = orjson.loads(value)
    dead_letter_id = text(d["dead_letter_id"])
    payload = pseudonymize.mask_text(text(d["payload"]).encode()).decode()
    return dead_letter_id, (
        dead_letter_id,
        text(d["reason_code"]),
        text(d["field"]),
        text(d["message"]),
        text(d["source_topic"]),
        uint(d["source_partition"], 16),
        uint(d["source_offset"], 64),
        moment(d["received_at"]),
        payload,
        uint(d["payload_bytes"], 32),
        uint(partition, 16),
        uint(offset, 64),
        ingested_at,
    )
