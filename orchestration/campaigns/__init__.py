"""Marketing campaigns: an audience over ClickHouse, a template, a schedule and guardrails.

    load_campaign_file(path) -> CampaignSpec           checked TOML file (CampaignConfigError)
    audience.members_query(db, audience, as_of)        the audience's SQL and parameters
    fanout.plan(spec, trigger, members, partitions)    the CampaignRequest chunks per partition

Their I/O is :mod:`channelhub.marketing`: the audience's preview and members read from
ClickHouse, campaigns created and triggered as events on ``campaigns.events``, the uplift.

The fan-out stage (:mod:`streams.campaigns`) runs triggers; the nudge stage decides each
request under the campaign's guardrails, as ``rule_id`` ``campaign:<id>``.
"""

from orchestration.campaigns.errors import (
    AudienceError,
    CampaignConfigError,
    UnknownCampaignError,
)
from orchestration.campaigns.loader import check_spec, load_campaign_file
from schemas.campaign_spec import (
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
