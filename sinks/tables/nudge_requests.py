"""``channelhub.nudge_requests``: every nudge a rule (or campaign) asked to send.

One row per ``nudge_id`` (deterministic from rule and trigger), ``ReplacingMergeTree``
partitioned by the request's own time, so a replayed request collapses onto the first. The
MSISDN is stored as its pseudonym, as in ``events``; the SMS text is masked the same way in
case a template personalises it with a number.
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

TABLE = "nudge_requests"

CREATE_NUDGE_REQUESTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{TABLE} (
    nudge_id String,
    rule_id String,
    campaign_id String,
    trigger_event_id String,
    subscriber String,
    prefecture String,
    brand String,
    text String,
    goal String,
    requested_at DateTime('UTC'),
    requested_ms UInt16,
    send_at DateTime('UTC'),
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {
    replacing_merge_tree(
        partition_by="toYYYYMM(requested_at)", order_by="rule_id, requested_at, nudge_id"
    )
}
"""

COLUMNS = (
    "nudge_id", "rule_id", "campaign_id", "trigger_event_id", "subscriber", "prefecture",
    "brand", "text", "goal", "requested_at", "requested_ms", "send_at", "kafka_partition",
    "kafka_offset", "ingested_at",
)  # fmt: skip

INSERT = insert_statement(TABLE, COLUMNS)

#: The row's own time (the partition key), around which its id is looked up.
EVENT_TIME = COLUMNS.index("requested_at")

RECENT_IDS = recent_ids_query(TABLE, "nudge_id")

PRESENT_IDS = present_ids_query(TABLE, "nudge_id", "requested_at")


def row(
    value: bytes,
    *,
    partition: int,
    offset: int,
    ingested_at: datetime,
    pseudonymize: Pseudonymizer,
) -> tuple[str, tuple[Any, ...]]:
    """The nudge id and the row for one message of ``nudges.requested``."""
    r = orjson.loads(value)
    nudge_id = text(r["nudge_id"])
    requested = moment(r["requested_at"])
    return nudge_id, (
        nudge_id,
        text(r["rule_id"]),
        text(r.get("campaign_id") or ""),
        text(r["trigger_event_id"]),
        pseudonymize(text(r["msisdn"])),
        text(r["prefecture"]),
        text(r.get("brand") or ""),
        pseudonymize.mask_text(text(r["text"]).encode()).decode(),
        text(r["goal"]),
        requested,
        requested.microsecond // 1000,
        moment(r["send_at"]),
        uint(partition, 16),
        uint(offset, 64),
        ingested_at,
    )
