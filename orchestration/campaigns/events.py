"""A campaign's lifecycle as events on ``campaigns.events``: created, then triggered.

Both are keyed by the campaign id, so one campaign's events are in order on one partition and
the fan-out always reads the spec before any trigger of it. A trigger is an event rather than
a call: it survives restarts, it is the record of who asked for which send and when, and its
id (``trigger_id``) is what the nudge ids of that send derive from.
"""

import uuid
from datetime import datetime

import msgspec

from orchestration.campaigns.model import CampaignSpec
from schemas.envelope import EventId, UtcTime


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


def created(spec: CampaignSpec, *, at: datetime, by: str) -> CampaignCreated:
    return CampaignCreated(
        event_id=str(uuid.uuid4()), campaign_id=spec.id, created_at=at, created_by=by, spec=spec
    )


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
