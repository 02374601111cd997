"""The campaign topics' records: a campaign's lifecycle, and the audience chunks it sends.

``campaigns.events`` carries a campaign's lifecycle: created, then triggered. Both are keyed by
the campaign id, so one campaign's events are in order on one partition and the fan-out always
reads the spec before any trigger of it. A trigger is an event rather than a call: it survives
restarts, it is the record of who asked for which send and when, and its id (``trigger_id``) is
what the nudge ids of that send derive from.

``campaigns.requests`` carries what the fan-out hands the nudge stage: one audience chunk for
one partition. The audience is computed in ClickHouse, where subscribers are pseudonyms, never
MSISDNs. The fan-out groups the pseudonyms by the ``channel.events`` partition their events
were written to (the ``kafka_partition`` column) and produces each chunk to that same partition
of ``campaigns.requests``. The nudge stage that owns the partition knows its subscribers'
MSISDNs and resolves the pseudonyms itself, so the MSISDN never leaves the stream, and the
fan-out's requests meet each subscriber's caps, opt-outs and holdout in the same guardrails as
the rules.
"""

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from kernel.pseudonym import PSEUDONYM
from schemas.campaign_spec import CampaignSpec
from schemas.envelope import EventId, UtcTime
from schemas.goals import Goal
from schemas.guardrails import GuardrailSettings


class CampaignCreated(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
    tag_field="event_type", tag="campaign.created",
):  # fmt: skip
    """The full, checked spec: the fan-out and ClickHouse need nothing else to run it."""

    event_id: EventId
    campaign_id: str
    created_at: UtcTime
    created_by: str
    spec: CampaignSpec
    #: The published version of the template (``channel.content``, item ``campaign:<id>``);
    #: None when publishing was not in force at creation.
    template_version: int | None = None


class CampaignTriggered(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
    tag_field="event_type", tag="campaign.triggered",
):  # fmt: skip
    """Select the audience as of ``scheduled_at`` and ask the nudge stage to send, then."""

    event_id: EventId
    campaign_id: str
    scheduled_at: UtcTime
    triggered_at: UtcTime
    triggered_by: str

    @property
    def trigger_id(self) -> str:
        return self.event_id


CampaignEvent = CampaignCreated | CampaignTriggered

_decoder = msgspec.json.Decoder(CampaignEvent)


def created(
    spec: CampaignSpec, *, at: datetime, by: str, template_version: int | None = None
) -> CampaignCreated:
    return CampaignCreated(
        event_id=str(uuid.uuid4()), campaign_id=spec.id, created_at=at, created_by=by, spec=spec,
        template_version=template_version,
    )  # fmt: skip


def triggered(
    campaign_id: str, *, scheduled_at: datetime, at: datetime, by: str
) -> CampaignTriggered:
    return CampaignTriggered(
        event_id=str(uuid.uuid4()), campaign_id=campaign_id, scheduled_at=scheduled_at,
        triggered_at=at, triggered_by=by,
    )  # fmt: skip


def encode(event: CampaignEvent) -> bytes:
    return msgspec.json.encode(event)


def decode(value: bytes) -> CampaignEvent:
    """Raises ``msgspec.ValidationError`` / ``DecodeError`` for anything else."""
    return _decoder.decode(value)


#: A subscriber as ClickHouse stores it: ``k<key id>.<hex>`` (:mod:`kernel.pseudonym`).
Pseudonym = Annotated[str, msgspec.Meta(pattern=f"^{PSEUDONYM.pattern}$")]


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
    template_version: int | None = None  # as the campaign was created with
