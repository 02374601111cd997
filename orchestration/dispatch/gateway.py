"""The contract every SMS gateway adapter keeps, and what it reports back.

An adapter does one thing: hand one SMS to a gateway and say what the gateway called it.
Retries, backoff and "never twice per nudge" live once, in :mod:`orchestration.dispatch.retry`,
so each adapter only has to classify its failures::

    ChannelhubError
    └── GatewayError               the gateway did not take the message
        ├── RetryableGatewayError  try again later: down, unreachable, timed out, throttled
        └── PermanentGatewayError  retrying cannot help: the number or the message is refused
            └── InvalidNumberError the gateway says the MSISDN is not a valid destination

Delivery receipts and mobile-originated replies come back later, out of band, as
:class:`DeliveryReceipt` and :class:`InboundReply` records handed to the adapter's
``on_report`` callback (an ``asyncio.Queue.put_nowait`` works), so the dispatcher can turn
them into ``nudges.receipts`` events without knowing which gateway they came from.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, Protocol

import msgspec

from channelhub.errors import ChannelhubError

DeliveryStatus = Literal["delivered", "failed", "expired"]


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


class DeliveryReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """The network's final word on one accepted message (one part of a long SMS).

    ``nudge_id`` is None when the adapter no longer knows which nudge the ``message_id``
    belonged to (e.g. a receipt arriving after a restart); join on ``message_id`` then.
    """

    gateway: str
    message_id: str
    nudge_id: str | None
    status: DeliveryStatus
    at: datetime
    error_code: str | None = None


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


class Gateway(Protocol):
    """An SMS gateway adapter."""

    name: str

    async def send(self, message: OutboundSms) -> SendResult:
        """Hand ``message`` to the gateway; raise a :class:`GatewayError` subclass if refused."""
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
