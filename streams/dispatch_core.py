"""The dispatcher without Kafka: approved nudges → the gateway → ``Dispatch`` records, and the
gateway's reports → records for the topics.

:class:`BatchSender` sends one chunk of a fetched batch (:func:`chunks`) through a
:class:`~orchestration.dispatch.ReliableSender` with bounded concurrency, every submission
through its partition's :class:`~orchestration.dispatch.SendJournal`, and settles each
partition: the ``Dispatch`` records of its leading run of settled nudges (sent, or refused for
good) and the offset after them. A nudge the journal already settled is answered from it and
never reaches the gateway; one with a part in doubt (handed to the gateway before a crash,
or in this run, with no answer) settles as ``failed`` with reason ``unknown_after_crash`` (or
``unknown_after_lost_answer``) and is not submitted again: at most one SMS per part.

A nudge the gateway kept refusing as retryable until the sender's deadline ends that run: it
and everything after it in its partition are *given back* (neither produced nor committed)
and fetched again later, so an outage costs time, not messages. Once one nudge has outlasted
the deadline the gateway is taken as down and the rest of the chunk is given back without
trying: an outage costs one deadline per chunk, not one per nudge. Given-back nudges the
gateway did accept are answered from the sender's memory and the journal when they come
round again, so none goes out twice.

A subscriber's reply (:class:`~orchestration.dispatch.InboundReply`) becomes a canonical
``sms.message_received`` event for the raw topic, so it is validated, stored and seen by the
nudge stage (``TD`` opt-outs, survey scores) like any other SMS to 10086.
"""

import asyncio
import enum
import logging
import uuid
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TypeVar

import msgspec

from orchestration.dispatch import (
    InboundReply,
    InDoubtError,
    OutboundSms,
    Outcome,
    PermanentGatewayError,
    ReliableSender,
    RetryableGatewayError,
    SendLedger,
    SmsTooLongError,
)
from orchestration.dispatch.gateway import utc_now
from schemas.envelope import Brand, Prefecture
from schemas.events import MessageReceived, SmsMessageReceived
from schemas.nudges import DecidedNudge, Dispatch, DispatchStatus, NudgeRequest

log = logging.getLogger(__name__)

encode = msgspec.json.Encoder().encode
OUTBOUND: Final = msgspec.json.Decoder(DecidedNudge)

REPLY_NAMESPACE: Final = uuid.UUID("5b0f8a52-4c1e-4a43-9d55-0d6f4f0c2a71")
"""uuid5 namespace of reply event ids (fixed: changing it would change every id)."""

UNKNOWN_PREFECTURE: Final[Prefecture] = "changsha"
UNKNOWN_BRAND: Final[Brand] = "easyown"
"""Where a reply from a subscriber we hold nothing about is counted: the capital, home of the
most subscribers, and Easyown, the brand of more than half of them. The event must be valid
to reach the nudge stage (a ``TD`` opt-out must never be lost to a dead-letter topic), and
these are the likeliest values; such replies are few (only after a restart of the
dispatcher, or unsolicited) and each is logged."""


class Unsent(enum.Enum):
    """What happened to a record that produced no ``Dispatch``."""

    SKIPPED = "skipped"
    """Not an approved nudge we can read: settled, nothing to produce (logged on decoding)."""
    GIVEN_BACK = "given_back"
    """The gateway was down past the deadline: fetch it again later."""


Settlement = Dispatch | Unsent
K = TypeVar("K")


@dataclass(frozen=True)
class Settled:
    """One partition's share of a batch."""

    dispatches: list[Dispatch]
    next_offset: int
    """Commit this; after a give-back, also seek here."""
    given_back: bool


def settle(outcomes: Sequence[tuple[int, Settlement]]) -> Settled:
    """The leading run of settled records of one partition (offsets ascending, non-empty)."""
    dispatches: list[Dispatch] = []
    for offset, outcome in outcomes:
        if outcome is Unsent.GIVEN_BACK:
            return Settled(dispatches, offset, given_back=True)
        if isinstance(outcome, Dispatch):
            dispatches.append(outcome)
    return Settled(dispatches, outcomes[-1][0] + 1, given_back=False)


def outbound_sms(nudge: DecidedNudge) -> OutboundSms:
    r = nudge.request
    return OutboundSms(nudge_id=r.nudge_id, msisdn=r.msisdn, text=r.text)


def dispatch(nudge: DecidedNudge, outcome: Outcome) -> Dispatch:
    """The ``Dispatch`` of a settled nudge: the same every time it is produced again."""
    r = nudge.request
    status: DispatchStatus = outcome.status
    return Dispatch(
        nudge_id=r.nudge_id, rule_id=r.rule_id, campaign_id=r.campaign_id, msisdn=r.msisdn,
        text=r.text, goal=r.goal, status=status, gateway=outcome.gateway,
        message_ids=outcome.message_ids, segments=outcome.segments, error=outcome.error,
        approved_at=nudge.decision.decided_at, dispatched_at=outcome.at,
    )  # fmt: skip


@dataclass(frozen=True)
class Recipient:
    """Where a subscriber we sent an SMS to belongs, and the nudge we sent last."""

    prefecture: Prefecture
    brand: Brand
    nudge_id: str


class Recipients:
    """MSISDN → :class:`Recipient` for the subscribers we sent to, the least recent forgotten.

    Replies answer our SMS, so the nudge we sent says where the replier belongs; bounded
    because most subscribers never reply.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._known: OrderedDict[str, Recipient] = OrderedDict()

    def remember(self, request: NudgeRequest) -> None:
        brand = request.brand or UNKNOWN_BRAND
        self._known[request.msisdn] = Recipient(request.prefecture, brand, request.nudge_id)
        self._known.move_to_end(request.msisdn)
        if len(self._known) > self.capacity:
            self._known.popitem(last=False)

    def get(self, msisdn: str) -> Recipient | None:
        return self._known.get(msisdn)


def national_number(address: str) -> str:
    """The 11-digit MSISDN events carry; SMSCs often report senders as ``86...`` or ``+86...``.

    Anything else is returned as it is, and the validation worker dead-letters it with the
    reason.
    """
    digits = address.removeprefix("+").removeprefix("00")
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else address


def reply_event_id(gateway: str, msisdn: str, at: datetime, text: str) -> str:
    """The same reply, reported again, gets the same event id and collapses downstream."""
    return str(uuid.uuid5(REPLY_NAMESPACE, f"{gateway}\x1f{msisdn}\x1f{at.isoformat()}\x1f{text}"))


def reply_event(reply: InboundReply, recipients: Recipients) -> SmsMessageReceived:
    """``reply`` as the canonical event of an SMS to 10086, placed where its sender belongs.

    The session is the nudge the reply answers (the last one we sent that subscriber), or the
    reply itself when we do not know it. The dispatcher does not match the text against the
    SMS hall's codes (``match_kind`` ``unknown``): what a reply means is the nudge stage's to
    read from the text.
    """
    msisdn = national_number(reply.msisdn)
    at = reply.at.astimezone(UTC)
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # events keep milliseconds
    event_id = reply_event_id(reply.gateway, msisdn, at, reply.text)
    recipient = recipients.get(msisdn)
    if recipient is None:
        log.info("reply from a subscriber not sent to since start: counted in %s, %s",
                 UNKNOWN_PREFECTURE, UNKNOWN_BRAND)  # fmt: skip
        recipient = Recipient(UNKNOWN_PREFECTURE, UNKNOWN_BRAND, event_id.replace("-", ""))
    return SmsMessageReceived(
        event_id=event_id,
        schema_version=1,
        channel="sms",
        occurred_at=at,
        msisdn=msisdn,
        session_id=f"reply-{recipient.nudge_id}",
        prefecture=recipient.prefecture,
        brand=recipient.brand,
        attributes=MessageReceived(text=reply.text, matched_code=None, match_kind="unknown"),
    )


class BatchSender:
    """Sends chunks through one :class:`ReliableSender`, ``concurrency`` nudges at a time."""

    def __init__(self, sender: ReliableSender, *, concurrency: int, recipients: Recipients) -> None:
        self.sender = sender
        self.recipients = recipients
        self.counts: Counter[str] = Counter()
        self.last_outage = ""
        """Why the last chunk was given back: the gateway's last error."""
        self._slots = asyncio.Semaphore(concurrency)

    async def send(
        self,
        batch: Mapping[K, Sequence[tuple[int, DecidedNudge | None]]],
        journals: Mapping[K, SendLedger],
    ) -> dict[K, Settled]:
        """Send every decoded nudge of ``batch`` (per partition, offsets ascending; None for
        a record that is not one) through its partition's journal and settle each partition.

        Returns once every outcome is durable in the journals: produce and commit after it.
        """
        outage: list[str] = []
        gateway = self.sender.gateway.name

        async def one(journal: SendLedger, nudge: DecidedNudge | None) -> Settlement:
            if nudge is None:
                return Unsent.SKIPPED
            nudge_id = nudge.request.nudge_id
            known = journal.outcome(nudge_id)
            if known is not None:
                self.counts["from_journal"] += 1
                return dispatch(nudge, known)
            async with self._slots:
                if outage:
                    return Unsent.GIVEN_BACK
                # Before sending: an SMSC may deliver the reply right behind its answer.
                self.recipients.remember(nudge.request)
                try:
                    result = await self.sender.send(outbound_sms(nudge), journal)
                except RetryableGatewayError as e:
                    outage.append(str(e))
                    return Unsent.GIVEN_BACK
                except InDoubtError as e:
                    log.warning("nudge %s not sent again: %s", nudge_id, e)
                    self.counts[e.reason] += 1
                    outcome = Outcome(
                        nudge_id=nudge_id, status="failed", gateway=gateway,
                        message_ids=journal.accepted_ids(nudge_id), error=f"{e.reason}: {e}",
                        at=utc_now(),
                    )  # fmt: skip
                except (PermanentGatewayError, SmsTooLongError) as e:
                    outcome = Outcome(
                        nudge_id=nudge_id, status="failed", gateway=gateway, error=str(e),
                        at=utc_now(),
                    )  # fmt: skip
                else:
                    outcome = Outcome(
                        nudge_id=nudge_id, status="sent", gateway=result.gateway,
                        message_ids=result.message_ids, segments=result.segments, at=utc_now(),
                    )  # fmt: skip
            return dispatch(nudge, journal.finish(outcome))

        keys = list(batch)
        outcomes = await asyncio.gather(
            *(asyncio.gather(*(one(journals[k], nudge) for _, nudge in batch[k])) for k in keys)
        )
        await asyncio.gather(*(journals[k].sync() for k in keys))
        settled = {
            k: settle([(offset, o) for (offset, _), o in zip(batch[k], got, strict=True)])
            for k, got in zip(keys, outcomes, strict=True)
        }
        for s in settled.values():
            self.counts.update(Counter(d.status for d in s.dispatches))
        if outage:
            self.last_outage = outage[0]
            self.counts["given_back_batches"] += 1
        return settled
