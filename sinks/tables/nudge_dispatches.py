"""``channelhub.nudge_dispatches``: what the dispatcher did with every approved nudge.

One row per ``nudge_id``: ``sent`` with the gateway's message ids (one per SMS part, the join
key of ``nudge_receipts``), or ``failed`` with the gateway's refusal. A nudge the dispatcher
redid after a crash is produced again with the same id and collapses: ``ReplacingMergeTree``
ordered by fields fixed by the nudge itself and partitioned by ``approved_at`` (the decision's
event time), never by the wall-clock ``dispatched_at``. The MSISDN is stored as its
pseudonym and numbers in the text are masked, as in ``nudge_requests``.
"""

from typing import Any

from kernel.pseudonym import Pseudonymizer
from schemas.nudges import Dispatch
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    Table,
    millis,
    moment,
    uint,
)

NAME = "nudge_dispatches"

CREATE_NUDGE_DISPATCHES = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
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


def _values(d: Dispatch, pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The nudge id and the row of one ``nudges.dispatches`` record."""
    approved = moment(d.approved_at)
    dispatched = moment(d.dispatched_at)
    return d.nudge_id, (
        d.nudge_id,
        d.rule_id,
        d.campaign_id or "",
        pseudonymize(d.msisdn),
        d.text,
        d.goal,
        d.status,
        d.gateway,
        list(d.message_ids),
        uint(d.segments, 16),
        d.error or "",
        approved,
        millis(approved),
        dispatched,
        millis(dispatched),
    )


TABLE = Table[Dispatch](
    name=NAME,
    create_statements=(CREATE_NUDGE_DISPATCHES,),
    columns=COLUMNS,
    id_column="nudge_id",
    time_column="approved_at",
    values=_values,
)
