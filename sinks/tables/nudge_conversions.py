"""``channelhub.nudge_conversions``: goals reached by sent and held-out subscribers.

One row per nudge at most (a goal converts once), so ``nudge_id`` is the row's identity;
``ReplacingMergeTree`` partitioned by the exposure's month keeps a replayed conversion in the
same partition as the original. Exposures without a conversion are the ``approved`` and
``holdout`` rows of ``nudge_decisions``; :mod:`sinks.tables.nudge_uplift` joins the two.
"""

from typing import Any

from kernel.pseudonym import Pseudonymizer
from schemas.nudges import Conversion
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    Table,
    moment,
    uint,
)

NAME = "nudge_conversions"

CREATE_NUDGE_CONVERSIONS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
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


def _values(c: Conversion, pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The nudge id and the row of one ``nudges.conversions`` record; a survey reply's text is
    stored with any phone number in it pseudonymised, its score 0 when it has none."""
    return c.nudge_id, (
        c.nudge_id,
        c.rule_id,
        c.campaign_id or "",
        pseudonymize(c.msisdn),
        c.group,
        c.goal,
        moment(c.exposed_at),
        moment(c.converted_at),
        c.event_id or "",
        c.reply or "",
        uint(c.score or 0, 8),
    )


TABLE = Table[Conversion](
    name=NAME,
    create_statements=(CREATE_NUDGE_CONVERSIONS,),
    columns=COLUMNS,
    id_column="nudge_id",
    time_column="exposed_at",
    values=_values,
)
