"""Marketing campaigns: an audience over ClickHouse, a template, a schedule and guardrails.

    load_campaign_file(path) -> CampaignSpec           checked TOML file (CampaignConfigError)
    audience.preview(client, db, audience, as_of)      size, by prefecture and brand
    audience.members(client, db, audience, as_of)      (pseudonym, partition) of each member
    store.create(settings, spec, by=...)               CampaignCreated on campaigns.events
    store.trigger(settings, campaign_id, at, by=...)   CampaignTriggered on campaigns.events
    store.list_campaigns(client, db)                   campaigns, triggers, decisions by outcome
    fanout.plan(spec, trigger, members, partitions)    the CampaignRequest chunks per partition

The fan-out stage (:mod:`streams.campaigns`) runs triggers; the nudge stage decides each
request under the campaign's guardrails, as ``rule_id`` ``campaign:<id>``.
"""

from orchestration.campaigns.errors import (
    AudienceError,
    CampaignConfigError,
    UnknownCampaignError,
)
from orchestration.campaigns.loader import check_spec, load_campaign_file
from orchestration.campaigns.model import (
    FORMAT_VERSION,
    AgentContacts,
    Audience,
    CampaignSpec,
    ChannelUse,
    Schedule,
)

__all__ = [
    "FORMAT_VERSION",
    "AgentContacts",
    "Audience",
    "AudienceError",
    "CampaignConfigError",
    "CampaignSpec",
    "ChannelUse",
    "Schedule",
    "UnknownCampaignError",
    "check_spec",
    "load_campaign_file",
]
