"""``channelhub.campaign_events``: every campaign lifecycle event; ``campaigns`` and
``campaign_triggers`` are views of it.

One topic (``campaigns.events``) carries both kinds, and the sink writes one table per topic,
so the events share a table and each kind is read through its view. Campaign events are few,
so the views read with ``FINAL`` and never show a duplicate that has not been merged yet.
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

TABLE = "campaign_events"

CREATE_CAMPAIGN_EVENTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{TABLE} (
    event_id String,
    event_type String,
    campaign_id String,
    at DateTime('UTC'),
    actor String,
    description String,
    spec String,
    scheduled_at DateTime('UTC'),
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {
    replacing_merge_tree(
        partition_by="toYYYYMM(at)",
        order_by="campaign_id, event_type, at, event_id",
    )
}
"""

CREATE_CAMPAIGNS = f"""
CREATE VIEW IF NOT EXISTS {{db}}.campaigns AS
SELECT campaign_id, event_id, at AS created_at, actor AS created_by, description, spec,
       scheduled_at AS schedule_at
FROM {{db}}.{TABLE} FINAL
WHERE event_type = 'campaign.created'
"""

CREATE_CAMPAIGN_TRIGGERS = f"""
CREATE VIEW IF NOT EXISTS {{db}}.campaign_triggers AS
SELECT event_id AS trigger_id, campaign_id, scheduled_at, at AS triggered_at,
       actor AS triggered_by
FROM {{db}}.{TABLE} FINAL
WHERE event_type = 'campaign.triggered'
"""

COLUMNS = (
    "event_id", "event_type", "campaign_id", "at", "actor", "description", "spec",
    "scheduled_at", "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip

INSERT = insert_statement(TABLE, COLUMNS)

#: The row's own time (the partition key), around which its id is looked up.
EVENT_TIME = COLUMNS.index("at")

RECENT_IDS = recent_ids_query(TABLE, "event_id")

PRESENT_IDS = present_ids_query(TABLE, "event_id", "at")

#: ``scheduled_at`` of a campaign whose file gives no time: it runs when triggered.
UNSCHEDULED = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def row(
    value: bytes,
    *,
    partition: int,
    offset: int,
    ingested_at: datetime,
    pseudonymize: Pseudonymizer,
) -> tuple[str, tuple[Any, ...]]:
    """The event id and the row for one message of ``campaigns.events`` (no personal data)."""
    e = orjson.loads(value)
    event_id, event_type = text(e["event_id"]), text(e["event_type"])
    if event_type == "campaign.created":
        spec = e["spec"]
        at, actor = e["created_at"], e["created_by"]
        description, spec_json = spec["description"], orjson.dumps(spec).decode()
        scheduled = spec["schedule"]["at"]
    else:
        at, actor, description, spec_json = e["triggered_at"], e["triggered_by"], "", ""
        scheduled = e["scheduled_at"]
    return event_id, (
        event_id,
        event_type,
        text(e["campaign_id"]),
        moment(at),
        text(actor),
        text(description),
        spec_json,
        moment(scheduled) if scheduled else UNSCHEDULED,
        uint(partition, 16),
        uint(offset, 64),
        ingested_at,
    )
