"""``channelhub.nudge_decisions``: every guardrail decision, with its reason code.

A held nudge is decided several times (held, then approved, suppressed or held again), so a row
is one ``nudge_id``, ``outcome``, ``reason`` and ``decided_at`` (event time: a replay decides at
the same instants and collapses). The reason is part of the key: a campaign chunk delivered
twice is decided again at the same instant, and its ``duplicate`` suppression must not replace
the first decision's reason (``budget_exhausted``, say) when parts merge (migration 0019).
``ReplacingMergeTree`` partitioned by the *request's* time, so every decision of one nudge sits
in one partition. The MSISDN is stored as its pseudonym.
"""

from datetime import datetime
from typing import Any

import msgspec

from kernel.pseudonym import Pseudonymizer
from schemas.nudges import DecidedNudge
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    Table,
    millis,
    moment,
)

NAME = "nudge_decisions"

CREATE_NUDGE_DECISIONS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
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
        order_by="rule_id, nudge_id, decided_at, decided_ms, outcome, reason",
    )
}
"""

COLUMNS = (
    "decision_id", "nudge_id", "rule_id", "subscriber", "outcome", "reason", "decided_at",
    "decided_ms", "held_until", "requested_at", "kafka_partition", "kafka_offset",
    "ingested_at",
)  # fmt: skip


#: What orders one nudge's decisions, newest greatest: the (event) millisecond of deciding,
#: then the offset on ``nudges.decisions``. Two decisions of one instant (a campaign chunk
#: decided again when it is delivered twice) would tie on the time alone, and ``argMax`` would
#: then take whichever row the parts were read in first; the topic is keyed by the MSISDN, so
#: every decision of one nudge is on one partition and the later offset is the later decision.
LATEST = "(toUInt64(decided_at) * 1000 + decided_ms, kafka_offset)"

#: ``held_until`` of a decision that holds nothing (a Nullable column could not be ordered on
#: and costs a null map on 18.16).
NOT_HELD = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def decision_id(nudge_id: str, outcome: str, reason: str, decided_at: str) -> str:
    """What makes one decision row: the nudge, the outcome and its reason, and the (event)
    time of deciding. The reason matters: a campaign chunk delivered twice is decided again at
    the same instant, and its ``duplicate`` suppression is news beside the first one."""
    return f"{nudge_id}:{outcome}:{reason}:{decided_at}"


def _values(record: DecidedNudge, pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The decision id and the row of one ``nudges.decisions`` record. The id holds the
    decision time as its producer wrote it (msgspec's RFC 3339, which decoding and encoding
    again gives back)."""
    r, d = record.request, record.decision
    decided = moment(d.decided_at)
    reason = d.reason or ""
    written_at = msgspec.json.encode(d.decided_at).decode().strip('"')
    key = decision_id(d.nudge_id, d.outcome, reason, written_at)
    return key, (
        key,
        d.nudge_id,
        r.rule_id,
        pseudonymize(r.msisdn),
        d.outcome,
        reason,
        decided,
        millis(decided),
        moment(d.send_at) if d.send_at else NOT_HELD,
        moment(r.requested_at),
    )


TABLE = Table[DecidedNudge](
    name=NAME,
    create_statements=(CREATE_NUDGE_DECISIONS,),
    columns=COLUMNS,
    id_column="decision_id",
    time_column="requested_at",
    values=_values,
)
