"""What the campaign fan-out hands the nudge stage: one audience chunk for one partition.

The audience is computed in ClickHouse, where subscribers are pseudonyms, never MSISDNs. The
fan-out groups the pseudonyms by the ``channel.events`` partition their events were written to
(the ``kafka_partition`` column) and produces each chunk to that same partition of
``campaigns.requests``. The nudge stage that owns the partition knows its subscribers' MSISDNs
and resolves the pseudonyms itself, so the MSISDN never leaves the stream, and the fan-out's
requests meet each subscriber's caps, opt-outs and holdout in the same guardrails as the rules.
"""

from typing import Annotated

import msgspec

from orchestration.guardrails.settings import GuardrailSettings
from orchestration.rules.model import Goal
from schemas.envelope import UtcTime

Pseudonym = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]


def campaign_rule_id(campaign_id: str) -> str:
    """The ``rule_id`` campaign nudges carry: caps, holdout and attribution key on it."""
    return f"campaign:{campaign_id}"


class CampaignRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Send ``template`` to ``subscribers`` (pseudonyms on this partition) under ``guardrails``.

    ``trigger_id`` is the trigger event's id: the nudge id of each message derives from it and
    the MSISDN, so a re-delivered chunk asks for the same nudges and the guardrails drop the
    repeats. ``guardrails.budget`` is already this partition's share of the campaign budget.
    ``template`` may use ``{brand_name}`` and ``{prefecture_name}``.
    """

    campaign_id: str
    trigger_id: str
    subscribers: tuple[Pseudonym, ...]
    template: str
    guardrails: GuardrailSettings
    goal: Goal
    requested_at: UtcTime  # the campaign's scheduled time: the moment every request is asked
