"""``channelhub.nudge_receipts``: the network's final word on each SMS part we sent.

One row per ``message_id`` and ``status`` (a gateway may report one part ``failed`` and,
after its own retry, ``delivered``). ``nudge_id`` is empty when the gateway no longer knew
which nudge a message belonged to (a receipt after a restart): join
``nudge_dispatches.message_ids`` on ``message_id`` then. ``received_at`` is when the
dispatcher learnt of the receipt; the partition comes from it because a receipt has no other
time, so only a receipt reported again across a month boundary could survive twice in
``FINAL``, and the sink's id memory drops that one too. No personal data: no MSISDN.
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

TABLE = "nudge_receipts"

CREATE_NUDGE_RECEIPTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{TABLE} (
    receipt_id String,
    message_id String,
    status String,
    nudge_id String,
    gateway String,
    error_code String,
    received_at DateTime('UTC'),
    received_ms UInt16,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {replacing_merge_tree(partition_by="toYYYYMM(received_at)", order_by="message_id, status")}
"""

COLUMNS = (
    "receipt_id", "message_id", "status", "nudge_id", "gateway", "error_code", "received_at",
    "received_ms", "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip

INSERT = insert_statement(TABLE, COLUMNS)

#: The row's own time (the partition key), around which its id is looked up.
EVENT_TIME = COLUMNS.index("received_at")

RECENT_IDS = recent_ids_query(TABLE, "receipt_id")

PRESENT_IDS = present_ids_query(TABLE, "receipt_id", "received_at")


def receipt_id(message_id: str, status: str) -> str:
    """What makes one receipt row: the message and the outcome reported for it."""
    return f"{message_id}:{status}"


def row(
    value: bytes,
    *,
    partition: int,
    offset: int,
    ingested_at: datetime,
    pseudonymize: Pseudonymizer,
) -> tuple[str, tuple[Any, ...]]:
    """The receipt id and the row for one message of ``nudges.receipts``."""
    r = orjson.loads(value)
    received = moment(r["at"])
    message_id, status = text(r["message_id"]), text(r["status"])
    key = receipt_id(message_id, status)
    return key, (
        key,
        message_id,
        status,
        text(r.get("nudge_id") or ""),
        text(r["gateway"]),
        text(r.get("error_code") or ""),
        received,
        received.microsecond // 1000,
        uint(partition, 16),
        uint(offset, 64),
        ingested_at,
    )
