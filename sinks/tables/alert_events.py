"""``channelhub.alert_events``: every queue alert opened and cleared, as the evaluator recorded it.

One row per transition. The alert's history is the table; whether an alert is open now is
the newest row of its rule (``alert.opened`` without a later ``alert.cleared``), which is also
how a restarted evaluator learns what it had open (:mod:`dashboards.alerts.service`).
"""

from typing import Any

from kernel.pseudonym import Pseudonymizer
from schemas.alerts import AlertEvent
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    Table,
    moment,
    uint,
)

NAME = "alert_events"

CREATE_ALERT_EVENTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
    event_id String,
    event_type String,
    alert_id String,
    rule_id String,
    kind String,
    severity String,
    threshold Float64,
    window_minutes UInt16,
    value Nullable(Float64),
    at DateTime('UTC'),
    message String,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {replacing_merge_tree(partition_by="toYYYYMM(at)", order_by="rule_id, at, event_id")}
"""

COLUMNS = (
    "event_id", "event_type", "alert_id", "rule_id", "kind", "severity", "threshold",
    "window_minutes", "value", "at", "message", "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip


#: The newest transition of every rule: the alerts open now are those whose newest is opened.
#: Within one second the offset orders them (a rule's records share a partition: its key).
LATEST = f"""
SELECT rule_id, argMax(event_type, (at, kafka_offset)), argMax(alert_id, (at, kafka_offset)),
       max(at)
FROM {{db}}.{NAME} FINAL
GROUP BY rule_id
"""


def _values(e: AlertEvent, pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The event id and the row of one ``alerts.events`` record (no personal data)."""
    return e.event_id, (
        e.event_id,
        e.event_type,
        e.alert_id,
        e.rule_id,
        e.kind,
        e.severity,
        e.threshold,
        uint(e.window_minutes or 0, 16),
        e.value,
        moment(e.at),
        e.message,
    )


TABLE = Table[AlertEvent](
    name=NAME,
    create_statements=(CREATE_ALERT_EVENTS,),
    columns=COLUMNS,
    id_column="event_id",
    time_column="at",
    values=_values,
)
