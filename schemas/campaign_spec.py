"""What a campaign file says: the schema of one versioned campaign, as msgspec structs.

These structs are the file format, decoded with ``forbid_unknown_fields`` so a misspelt key is
an error instead of a silently ignored filter. Decoding checks types and ranges; the checks
that need vocabularies (a prefecture that does not exist, a template placeholder nobody can
fill, a goal function with no self-service way) are made by
:func:`orchestration.campaigns.loader.check_spec`, which every way in (a file, the dashboard)
goes through before a campaign is created.

A campaign differs from a rule in who it reaches and when: a rule answers one subscriber's
event, a campaign selects an audience from ClickHouse at a scheduled time. Its guardrails are
the same struct the rules use, minus what makes no sense for marketing: quiet hours cannot be
switched off and a budget is required, because a campaign without a spending limit can text
the whole province.
"""

from typing import Annotated

import msgspec

from schemas.envelope import UtcTime
from schemas.goals import Goal
from schemas.guardrails import (
    Budget,
    FrequencyCaps,
    GuardrailSettings,
    QuietHours,
    Share,
)

#: The campaign-file format this code reads; a future format gets a new number.
FORMAT_VERSION = 1

#: The placeholders a campaign template may use: what the nudge stage knows about everyone.
TEMPLATE_FIELDS = ("brand_name", "prefecture_name")

CampaignId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$",
        description="lower-case letters, digits, '_', '.', '-'; at most 64 characters",
    ),
]
Days = Annotated[int, msgspec.Meta(ge=1, le=366)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Values = Annotated[tuple[str, ...], msgspec.Meta(min_length=1)]


class ChannelUse(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Any event on at least one of ``channels`` in the ``within_days`` before the as-of time."""

    channels: Values
    within_days: Days


class AgentContacts(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Requests handled by an agent (``agent.request_handled``) in the last ``within_days``,
    between ``min`` and ``max`` inclusive; either bound may be left out, not both."""

    within_days: Days
    min: Count | None = None
    max: Count | None = None

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ValueError("agent_contacts needs min or max (or both)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"agent_contacts min {self.min} is above max {self.max}")


class Audience(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Who a campaign reaches: every filter given must hold (an empty list selects all).

    A subscriber's prefecture, brand and partition are those of their latest event before the
    as-of time. Subscribers who opted out of everything are never in an audience: that is not
    a filter a campaign can switch off.
    """

    prefectures: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    #: Each entry must hold: used at least one of its channels within its days.
    used: tuple[ChannelUse, ...] = ()
    #: Each entry must hold: used none of its channels within its days.
    not_used: tuple[ChannelUse, ...] = ()
    agent_contacts: AgentContacts | None = None


class Schedule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """When the audience is selected and asked: ``at``, or the moment it is triggered."""

    at: UtcTime | None = None


class CampaignSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One campaign as written in its file's ``[campaign]`` table."""

    id: CampaignId
    description: str
    audience: Audience
    template: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    goal: Goal
    budget: Budget
    schedule: Schedule = Schedule()
    #: Kept from the campaign as its control group: without one there is no uplift to measure.
    holdout_share: Share = 0.1
    caps: FrequencyCaps = FrequencyCaps()
    quiet_hours: QuietHours = QuietHours()

    def guardrails(self, budget: Budget) -> GuardrailSettings:
        """The guardrails of one fan-out chunk: this campaign's, with ``budget`` being the
        share of the partition the chunk is for."""
        return GuardrailSettings(
            caps=self.caps,
            quiet_hours=self.quiet_hours,
            holdout_share=self.holdout_share,
            budget=budget,
        )


class CampaignFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A whole campaign file: the format version and one campaign."""

    version: int
    campaign: CampaignSpec
