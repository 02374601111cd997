"""``channelhub.nudge_requests``: every nudge a rule (or campaign) asked to send.

One row per ``nudge_id`` (deterministic from rule and trigger), ``ReplacingMergeTree``
partitioned by the request's own time, so a replayed request collapses onto the first. The
MSISDN is stored as its pseudonym, as in ``events``; the SMS text is masked the same way in
case a template personalises it with a number. ``template_version`` is the published version
of the rule's or campaign's template the text was rendered from (0: none, before publishing
was in force).
"""

from typing import Any

from kernel.pseudonym import Pseudonymizer
from schemas.nudges import NudgeRequest
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    Table,
    millis,
    moment,
)

NAME = "nudge_requests"

CREATE_NUDGE_REQUESTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
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
    "brand", "text", "template_version", "goal", "requested_at", "requested_ms", "send_at",
    "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip


def _values(r: NudgeRequest, pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The nudge id and the row of one ``nudges.requested`` record."""
    requested = moment(r.requested_at)
    return r.nudge_id, (
        r.nudge_id,
        r.rule_id,
        r.campaign_id or "",
        r.trigger_event_id,
        pseudonymize(r.msisdn),
        r.prefecture,
        r.brand or "",
        r.text,
        r.template_version or 0,
        r.goal,
        requested,
        millis(requested),
        moment(r.send_at),
    )


TABLE = Table[NudgeRequest](
    name=NAME,
    create_statements=(CREATE_NUDGE_REQUESTS,),
    columns=COLUMNS,
    id_column="nudge_id",
    time_column="requested_at",
    values=_values,
)

#: Migration 0015 adds ``template_version``, after ``text``, to the table the CREATE above
#: makes (so the CREATE stays the one migration 0002 applied).
ADD_TEMPLATE_VERSION = f"""
ALTER TABLE {{db}}.{NAME} ADD COLUMN template_version UInt32 AFTER text
"""
