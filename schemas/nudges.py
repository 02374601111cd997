"""Records of the nudge flow: what a rule or campaign asks to send, and what became of it.

These travel on their own topics (``nudges.requested``, ``nudges.outbound``,
``nudges.receipts``), separate from channel events. Every record carries the ``nudge_id``,
derived from the rule (or campaign) and the triggering event, so a replay of the event stream
asks for the same nudge again and every downstream step can recognise it.
"""

import hashlib
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from schemas.envelope import Brand, Msisdn, Prefecture, UtcTime


def nudge_id(source_id: str, trigger_id: str) -> str:
    """Deterministic id of the nudge that ``source_id`` (rule or campaign) sends for
    ``trigger_id`` (the triggering event's id, or the campaign's subscriber)."""
    return hashlib.sha256(f"{source_id}\x1f{trigger_id}".encode()).hexdigest()[:32]


class NudgeRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A rule or a campaign asks to send one SMS to one subscriber."""

    nudge_id: str
    rule_id: str  # the rule, or ``campaign:<id>`` for campaign fan-out
    campaign_id: str | None = None
    trigger_event_id: str
    msisdn: Msisdn
    prefecture: Prefecture
    brand: Brand | None
    text: str  # rendered, personalised SMS text
    #: The published version of the rule's or campaign's template (``channel.content``);
    #: None for nudges asked for before publishing was enforced.
    template_version: int | None = None
    goal: str  # conversion goal id, for attribution
    requested_at: UtcTime  # when the trigger happened
    send_at: UtcTime  # requested_at plus the rule's delay


Outcome = Literal["approved", "suppressed", "held", "holdout"]


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What the guardrails decided for one request, and why.

    ``held`` means "not now": quiet hours, a live call, or the gateway's rate limit; the
    request is retried at ``send_at``. ``holdout`` means the subscriber is in the rule's
    control group: nothing is sent, but the would-have-sent is recorded for uplift.
    """

    nudge_id: str
    outcome: Outcome
    reason: str | None  # machine code, e.g. "opted_out", "frequency_cap_day", "quiet_hours"
    decided_at: UtcTime
    send_at: datetime | None = None


DispatchStatus = Literal["sent", "failed"]


class Dispatch(msgspec.Struct, frozen=True, kw_only=True):
    """What the dispatcher did with one approved nudge: the record of ``nudges.dispatches``.

    ``sent`` means the gateway accepted it (its ids, one per SMS part, join the delivery
    receipts); ``failed`` means the gateway refused it for good (``error`` says why). A
    gateway that is merely down produces no record: the nudge is retried, not failed.
    """

    nudge_id: str
    rule_id: str
    campaign_id: str | None = None
    msisdn: Msisdn
    text: str
    goal: str
    status: DispatchStatus
    gateway: str
    message_ids: tuple[str, ...] = ()
    segments: Annotated[int, msgspec.Meta(ge=0, le=255)] = 0
    error: str | None = None
    approved_at: UtcTime  # the decision's (event) time: when the SMS was cleared to go
    dispatched_at: UtcTime  # wall-clock time of the gateway's answer


Group = Literal["sent", "holdout"]


class Conversion(msgspec.Struct, frozen=True, kw_only=True):
    """A sent or holdout subscriber reached the nudge's goal: the record of
    ``nudges.conversions``.

    Exposure is the decision (``approved`` → ``sent``, ``holdout`` → ``holdout``) at
    ``exposed_at``; the goal is reached by ``event_id`` at ``converted_at``, or, for "no agent
    call within N days", by the window closing without one (``event_id`` empty). A survey's
    reply carries its text, and ``score`` when the text is a 1-5 rating.
    """

    nudge_id: str
    rule_id: str
    campaign_id: str | None = None
    msisdn: Msisdn
    group: Group
    goal: str
    exposed_at: UtcTime
    converted_at: UtcTime
    event_id: str = ""
    reply: str | None = None
    score: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None


class OptOutRecorded(msgspec.Struct, frozen=True, kw_only=True):
    """A subscriber's opt-out as the nudge stage recorded it: ``scope`` is ``all`` or the
    code of the one rule (or campaign) the reply named."""

    msisdn: Msisdn
    scope: str
    event_id: str
    at: UtcTime


class DecidedNudge(msgspec.Struct, frozen=True, kw_only=True):
    """A decision with its request: the record of ``nudges.decisions`` and ``nudges.outbound``
    (the sink needs the request's subscriber, rule and time beside the outcome)."""

    request: NudgeRequest
    decision: Decision


DeliveryStatus = Literal["delivered", "failed", "expired"]


class DeliveryReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """The network's final word on one accepted message (one part of a long SMS): the record
    of ``nudges.receipts``, as a gateway reports it.

    ``nudge_id`` is None when the adapter no longer knows which nudge the ``message_id``
    belonged to (e.g. a receipt arriving after a restart); join on ``message_id`` then.
    """

    gateway: str
    message_id: str
    nudge_id: str | None
    status: DeliveryStatus
    at: datetime
    error_code: str | None = None
