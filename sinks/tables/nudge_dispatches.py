"""``channelhub.nudge_dispatches``: what the dispatcher did with every approved nudge.

One row per ``nudge_id``: ``sent`` with the gateway's message ids (one per SMS part, the join
key of ``nudge_receipts``), or ``failed`` with the gateway's refusal. A nudge the dispatcher
redid after a crash is produced again with the same id and collapses: ``ReplacingMergeTree``
ordered by fields fixed by the nudge itself and partitioned by ``approved_at`` (the decision's
event time), never by the wall-clock ``dispatched_at``. The MSISDN is stored as its
pseudonym and numbers in the text are masked, as in ``nudge_requests``.
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
    texts,
    uint,
)

TABLE = "nudge_dispatches"

CREATE_NUDGE_DISPATCHES = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{TABLE} (
    nudge_id String,
    rule_id String,
    campaign_id String,
    subscriber String,
    text String,
    goal String,
    status String,
    gateway String,
    message_ids Array(String),
    segments UInt16,
    error String,
    approved_at DateTime('UTC'),
    approved_ms UInt16,
    dispatched_at DateTime('UTC'),
    dispatched_ms UInt16,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {
    replacing_merge_tree(
        partition_by="toYYYYMM(approved_at)", order_by="rule_id, approved_at, nudge_id"
    )
}
"""

COLUMNS = (
    "nudge_id", "rule_id", "campaign_id", "subscriber", "text", "goal", "status", "gateway",
    "message_ids", "segments", "error", "approved_at", "approved_ms", "dispatched_at",
    "dispatched_ms", "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip

INSERT = insert_statement(TABLE, COLUMNS)

#: The row's own time (the partition key), around which its id is looked up.
EVENT_TIME = COLUMNS.index("approved_at")

RECENT_IDS = recent_ids_query(TABLE, "nudge_id")

PRESENT_IDS = present_ids_query(TABLE, "nudge_id", "approved_at")


def row(
    value: bytes,
    *,
    partition: int,
    offset: int,
    ingested_at: datetime,
    pseudonymize: Pseudonymizer,
) -> tuple[str, tuple[Any, ...]]:
    """The nudge id and the row for one message of ``nudges.dispatches``."""
    d = orjson.loads(value)
    nudge_id = text(d["nudge_id"])
    approved = moment(d["approved_at"])
    dispatched = moment(d["dispatched_at"])
    return nudge_id, (
        nudge_id,
        text(d["rule_id"]),
        text(d.get("campaign_id") or ""),
        pseudonymize(text(d["msisdn"])),
        pseudonymize.mask_text(text(d["text"]).encode()).decode(),
        text(d["goal"]),
        text(d["status"]),
        text(d["gateway"]),
        texts(d.get("message_ids", [])),
        uint(d.get("segments", 0), 16),
        text(d.get("error") or ""),
        approved,
        approved.microsecond // 1000,
        dispatched,
        dispatched.microsecond // 1000,
        uint(partition, 16),
        uint(offset, 64),
        ingested_at,
    )
