"""The contract every SMS gateway adapter keeps, and what it reports back.

An adapter does one thing: hand one SMS to a gateway and say what the gateway called it.
Retries, backoff and "never twice per nudge" live once, in :mod:`orchestration.dispatch.retry`,
so each adapter only has to classify its failures::

    ChannelhubError
    └── GatewayError               the gateway did not take the message
        ├── RetryableGatewayError  try again later: down, unreachable, throttled, never reached
        └── PermanentGatewayError  retrying cannot help: the number or the message is refused
            ├── InvalidNumberError the gateway says the MSISDN is not a valid destination
            └── InDoubtError       submitted before without an answer: never submitted again

Every submission to a gateway (one SMPP ``submit_sm`` per SMS part, one webhook call, one
outbox append) goes through a :class:`SubmitLedger`: asked first what an earlier submission
of that part left, made to record "about to submit" durably, then told the answer. A part
whose earlier submission got no answer is *in doubt*: the gateway may have taken it, so it
is never submitted again (:class:`InDoubtError`): at most one SMS per part, whatever crashes.
The dispatcher's ledger is the durable send journal (:mod:`orchestration.dispatch.journal`).

Delivery receipts and mobile-originated replies come back later, out of band, as
:class:`DeliveryReceipt` and :class:`InboundReply` records handed to the adapter's
``on_report`` callback (an ``asyncio.Queue.put_nowait`` works), so the dispatcher can turn
them into ``nudges.receipts`` events without knowing which gateway they came from.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, Protocol

import msgspec

from kernel.errors import ChannelhubError
from schemas.nudges import DeliveryReceipt


class GatewayError(ChannelhubError):
    """The gateway did not accept the message; ``gateway`` names the adapter."""

    def __init__(self, gateway: str, message: str) -> None:
        super().__init__(f"{gateway}: {message}")
        self.gateway = gateway


class RetryableGatewayError(GatewayError):
    """Transient: the same message may succeed later (gateway down, throttled, timeout)."""


class PermanentGatewayError(GatewayError):
    """Final: the gateway refused this message; sending it again would be refused again."""


class InvalidNumberError(PermanentGatewayError):
    """The destination MSISDN was rejected as invalid."""


UNKNOWN_AFTER_CRASH: Final = "unknown_after_crash"
"""Reason of a part found "about to submit" without an answer in the journal after a restart."""
UNKNOWN_AFTER_LOST_ANSWER: Final = "unknown_after_lost_answer"
"""Reason of a part whose submission lost its answer (timeout, dropped connection) in this run."""


class InDoubtError(PermanentGatewayError):
    """A part of this nudge was handed to the gateway before and its answer never came: the
    gateway may have taken it, so neither it nor the parts after it are submitted (again).

    ``reason`` is :data:`UNKNOWN_AFTER_CRASH` or :data:`UNKNOWN_AFTER_LOST_ANSWER`.
    """

    def __init__(self, gateway: str, message: str, *, reason: str) -> None:
        super().__init__(gateway, message)
        self.reason = reason


class OutboundSms(msgspec.Struct, frozen=True, kw_only=True):
    """One approved nudge, as a gateway sees it. ``nudge_id`` is the idempotence key."""

    nudge_id: str
    msisdn: str
    text: str


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the gateway accepted: its id for each part, in part order."""

    nudge_id: str
    gateway: str
    message_ids: tuple[str, ...]
    segments: int


class InboundReply(msgspec.Struct, frozen=True, kw_only=True):
    """A mobile-originated SMS: a subscriber's reply (survey score, ``TD`` opt-out, ...)."""

    gateway: str
    msisdn: str
    text: str
    at: datetime
    to: str = ""  # the service number it was sent to, e.g. 10086


GatewayReport = DeliveryReceipt | InboundReply
ReportCallback = Callable[[GatewayReport], object]
"""Called synchronously from the adapter's event loop; must not block."""


class PartAccepted(msgspec.Struct, frozen=True):
    """An earlier submission of the part was taken: the gateway's ids for it."""

    message_ids: tuple[str, ...]


class PartInDoubt(msgspec.Struct, frozen=True):
    """An earlier submission of the part got no answer (``reason``: why we do not know)."""

    reason: str


Prior = PartAccepted | PartInDoubt | None
"""What earlier submissions of one part left; None: it was never handed to the gateway."""


class SubmitLedger(Protocol):
    """What an adapter asks before each submission of a nudge's part and tells after it.

    ``part`` numbers the adapter's submissions of one nudge from 0: SMPP submits each SMS part
    on its own, the webhook and the file gateway hand over the whole nudge as part 0.
    """

    def prior(self, nudge_id: str, part: int) -> Prior:
        """What earlier submissions of this part left."""
        ...

    async def intend(self, nudge_id: str, part: int) -> None:
        """Record "about to submit"; returns once that is durable. Submit only after it."""
        ...

    def accepted(self, nudge_id: str, part: int, message_ids: tuple[str, ...]) -> None:
        """The gateway took the part, under these ids."""
        ...

    def not_taken(self, nudge_id: str, part: int) -> None:
        """The gateway certainly did not take the part (it answered no, or was never reached),
        so it may be submitted again."""
        ...


def accepted_before(
    ledger: SubmitLedger, gateway: str, nudge_id: str, part: int
) -> PartAccepted | None:
    """``ledger.prior``, raising :class:`InDoubtError` for a part in doubt: the one check an
    adapter makes before submitting. Returns the earlier ids, or None to go ahead."""
    prior = ledger.prior(nudge_id, part)
    if isinstance(prior, PartInDoubt):
        raise InDoubtError(
            gateway,
            f"part {part + 1} of nudge {nudge_id} was handed to the gateway before and its "
            "answer never came; it may have been sent, so it is not submitted again",
            reason=prior.reason,
        )
    return prior


class Gateway(Protocol):
    """An SMS gateway adapter."""

    name: str

    async def send(self, message: OutboundSms, ledger: SubmitLedger | None = None) -> SendResult:
        """Hand ``message`` to the gateway, each submission through ``ledger`` (default: the
        adapter's own in-memory one); raise a :class:`GatewayError` subclass if refused."""
        ...

    async def close(self) -> None:
        """Release connections; pending reports may be lost after this."""
        ...


def utc_now() -> datetime:
    """Report timestamps: when we learnt of the receipt or reply, in UTC."""
    return datetime.now(UTC)


class MessageIndex:
    """Gateway message id → nudge id for the receipts still to come, oldest forgotten first.

    Bounded because some receipts never come (the network does not owe us one); a receipt
    for a forgotten id is still reported, with ``nudge_id`` None.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._nudges: dict[str, str] = {}

    def add(self, message_id: str, nudge_id: str) -> None:
        self._nudges[message_id] = nudge_id
        if len(self._nudges) > self.capacity:
            # dicts keep insertion order: the first key is the oldest.
            del self._nudges[next(iter(self._nudges))]

    def pop(self, message_id: str) -> str | None:
        return self._nudges.pop(message_id, None)
