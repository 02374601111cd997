"""``channelhub.nudge_conversions``: goals reached by sent and held-out subscribers.

One row per nudge at most (a goal converts once), so ``nudge_id`` is the row's identity;
``ReplacingMergeTree`` partitioned by the exposure's month keeps a replayed conversion in the
same partition as the original. Exposures without a conversion are the ``approved`` and
``holdout`` rows of ``nudge_decisions``; :mod:`sinks.tables.nudge_uplift` joins the two.
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

TABLE = "nudge_conversions"

CREATE_NUDGE_CONVERSIONS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{TABLE} (
    nudge_id String,
    rule_id String,
    campaign_id String,
    subscriber String,
    arm String,
    goal String,
    exposed_at DateTime('UTC'),
    converted_at DateTime('UTC'),
    event_id String,
    reply String,
    score UInt8,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {
    replacing_merge_tree(
        partition_by="toYYYYMM(exposed_at)", order_by="rule_id, exposed_at, nudge_id"
    )
}
"""

COLUMNS = (
    "nudge_id", "rule_id", "campaign_id", "subscriber", "arm", "goal", "exposed_at",
    "converted_at", "event_id", "reply", "score", "kafka_partition", "kafka_offset",
    "ingested_at",
)  # fmt: skip

INSERT = insert_statement(TABLE, COLUMNS)

#: The row's own time (the partition key), around which its id is looked up.
EVENT_TIME = COLUMNS.index("exposed_at")

RECENT_IDS = recent_ids_query(TABLE, "nudge_id")

PRESENT_IDS = present_ids_query(TABLE, "nudge_id", "exposed_at")


def row(
    value: bytes,
    *,
    partition: int,
    offset: int,
    ingested_at: datetime,
    pseudonymize: Pseudonymizer,
) -> tuple[str, tuple[Any, ...]]:
    """The nudge id and the row for one message of ``nudges.conversions``; a survey reply's
    text is stored with any phone number in it pseudonymised, its score 0 when it has none."""
    c = orjson.loads(value)
    nudge_id = text(c["nudge_id"])
    reply = text(c.get("reply") or "")
    return nudge_id, (
        nudge_id,
        text(c["rule_id"]),
        text(c.get("campaign_id") or ""),
        pseudonymize(text(c["msisdn"])),
        text(c["group"]),
        text(c["goal"]),
        moment(c["exposed_at"]),
        moment(c["converted_at"]),
        text(c.get("event_id") or ""),
        pseudonymize.mask_text(reply.encode()).decode(),
        uint(c.get("score") or 0, 8),
        uint(partition, 16),
        uint(offset, 64),
        ingested_at,
    )
