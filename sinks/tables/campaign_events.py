"""``channelhub.campaign_events``: every campaign lifecycle event; ``campaigns`` and
``campaign_triggers`` are views of it.

One topic (``campaigns.events``) carries both kinds, and the sink writes one table per topic,
so the events share a table and each kind is read through its view. Campaign events are few,
so the views read with ``FINAL`` and never show a duplicate that has not been merged yet.
"""

from datetime import datetime
from typing import Any

import msgspec

from kernel.pseudonym import Pseudonymizer
from schemas.campaigns import CampaignCreated, CampaignEvent
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    Table,
    moment,
)

NAME = "campaign_events"

CREATE_CAMPAIGN_EVENTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
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
FROM {{db}}.{NAME} FINAL
WHERE event_type = 'campaign.created'
"""

CREATE_CAMPAIGN_TRIGGERS = f"""
CREATE VIEW IF NOT EXISTS {{db}}.campaign_triggers AS
SELECT event_id AS trigger_id, campaign_id, scheduled_at, at AS triggered_at,
       actor AS triggered_by
FROM {{db}}.{NAME} FINAL
WHERE event_type = 'campaign.triggered'
"""

COLUMNS = (
    "event_id", "event_type", "campaign_id", "at", "actor", "description", "spec",
    "scheduled_at", "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip


#: ``scheduled_at`` of a campaign whose file gives no time: it runs when triggered.
UNSCHEDULED = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def _values(e: CampaignEvent, pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The event id and the row of one ``campaigns.events`` record (no personal data)."""
    if isinstance(e, CampaignCreated):
        at, actor, description = e.created_at, e.created_by, e.spec.description
        spec_json = msgspec.json.encode(e.spec).decode()
        scheduled = e.spec.schedule.at
        event_type = "campaign.created"
    else:
        at, actor, description, spec_json = e.triggered_at, e.triggered_by, "", ""
        scheduled = e.scheduled_at
        event_type = "campaign.triggered"
    return e.event_id, (
        e.event_id,
        event_type,
        e.campaign_id,
        moment(at),
        actor,
        description,
        spec_json,
        moment(scheduled) if scheduled else UNSCHEDULED,
    )


TABLE = Table[CampaignEvent](
    name=NAME,
    create_statements=(CREATE_CAMPAIGN_EVENTS, CREATE_CAMPAIGNS, CREATE_CAMPAIGN_TRIGGERS),
    columns=COLUMNS,
    id_column="event_id",
    time_column="at",
    values=_values,
)
