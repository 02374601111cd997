"""``channelhub.nudge_decisions``: every guardrail decision, with its reason code.

A held nudge is decided several times (held, then approved, suppressed or held again), so a row
is one ``nudge_id``, ``outcome`` and ``decided_at`` (event time: a replay decides at the same
instants and collapses). ``ReplacingMergeTree`` partitioned by the *request's* time, so every
decision of one nudge sits in one partition. The MSISDN is stored as its pseudonym.
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

TABLE = "nudge_decisions"

CREATE_NUDGE_DECISIONS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{TABLE} (
    decision_id String,
    nudge_id String,
    rule_id String,
    subscriber String,
    outcome String,
    reason String,
    decided_at DateTime('UTC'),
    decided_ms UInt16,
    held_until DateTime('UTC'),
    requested_at DateTime('UTC'),
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {
    replacing_merge_tree(
        partition_by="toYYYYMM(requested_at)",
        order_by="rule_id, nudge_id, decided_at, decided_ms, outcome",
    )
}
"""

COLUMNS = (
    "decision_id", "nudge_id", "rule_id", "subscriber", "outcome", "reason", "decided_at",
    "decided_ms", "held_until", "requested_at", "kafka_partition", "kafka_offset",
    "ingested_at",
)  # fmt: skip

INSERT = insert_statement(TABLE, COLUMNS)

#: The row's own time (the partition key), around which its id is looked up.
EVENT_TIME = COLUMNS.index("requested_at")

RECENT_IDS = recent_ids_query(TABLE, "decision_id")

PRESENT_IDS = present_ids_query(TABLE, "decision_id", "requested_at")

#: ``held_until`` of a decision that holds nothing (a Nullable column could not be ordered on
#: and costs a null map on 18.16).
NOT_HELD = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def decision_id(nudge_id: str, outcome: str, reason: str, decided_at: str) -> str:
    """What makes one decision row: the nudge, the outcome and its reason, and the (event)
    time of deciding. The reason matters: a campaign chunk delivered twice is decided again at
    the same instant, and its ``duplicate`` suppression is news beside the first one."""
    return f"{nudge_id}:{outcome}:{reason}:{decided_at}"


def row(
    value: bytes,
    *,
    partition: int,
    offset: int,
    ingested_at: datetime,
    pseudonymize: Pseudonymizer,
) -> tuple[str, tuple[Any, ...]]:
    """The decision id and the row for one message of ``nudges.decisions``."""
    record = orjson.loads(value)
    r, d = record["request"], record["decision"]
    decided = moment(d["decided_at"])
    held = d.get("send_at")
    nudge_id, outcome, reason = text(d["nudge_id"]), text(d["outcome"]), text(d.get("reason") or "")
    key = decision_id(nudge_id, outcome, reason, d["decided_at"])
    return key, (
        key,
        nudge_id,
        text(r["rule_id"]),
        pseudonymize(text(r["msisdn"])),
        outcome,
        reason,
        decided,
        decided.microsecond // 1000,
        moment(held) if held else NOT_HELD,
        moment(r["requested_at"]),
        uint(partition, 16),
        uint(offset, 64),
        ingested_at,
    )
