"""Send through any gateway with backoff, and never twice for the same nudge id.

A gateway that is down must cost time, not messages: :class:`ReliableSender` retries
:class:`~orchestration.dispatch.gateway.RetryableGatewayError` with exponential backoff until
a deadline, then re-raises the last one so the caller keeps the nudge (does not commit its
offset) and tries again later. Permanent errors are raised at once.

Within one sender the nudge id is the idempotence key: a nudge that was accepted is answered
from memory (the last ``remember`` ids), and a second ``send`` of a nudge still in flight
waits for the first instead of racing it. Each attempt goes through the caller's
:class:`~orchestration.dispatch.gateway.SubmitLedger` (the dispatcher's send journal), so a
retry resumes after the parts already taken and never repeats a part whose answer was lost:
that is :class:`~orchestration.dispatch.gateway.InDoubtError`, permanent, raised at once.
"""

import asyncio
from collections import OrderedDict

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from orchestration.dispatch.gateway import (
    Gateway,
    OutboundSms,
    RetryableGatewayError,
    SendResult,
    SubmitLedger,
)


class ReliableSender:
    """Retrying, deduplicating front of one :class:`Gateway`; one per dispatcher process."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        deadline: float = 60.0,
        initial_backoff: float = 0.2,
        max_backoff: float = 10.0,
        remember: int = 100_000,
    ) -> None:
        self.gateway = gateway
        self.deadline = deadline
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.remember = remember
        self.attempts = 0
        """Calls made to the gateway, retries included: what tests and metrics look at."""
        self._sent: OrderedDict[str, SendResult] = OrderedDict()
        self._in_flight: dict[str, asyncio.Task[SendResult]] = {}

    async def send(self, message: OutboundSms, ledger: SubmitLedger | None = None) -> SendResult:
        """The gateway's result for ``message.nudge_id``, sending it only if not yet accepted,
        each submission through ``ledger`` (None: the adapter's own, in memory)."""
        key = message.nudge_id
        if key in self._sent:
            self._sent.move_to_end(key)
            return self._sent[key]
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.create_task(self._send_with_retries(message, ledger))
            self._in_flight[key] = task
            task.add_done_callback(lambda _: self._in_flight.pop(key, None))
        # Shielded: one caller giving up must not cancel the send another caller waits for.
        result = await asyncio.shield(task)
        self._remember(result)
        return result

    async def _send_with_retries(
        self, message: OutboundSms, ledger: SubmitLedger | None
    ) -> SendResult:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RetryableGatewayError),
            wait=wait_exponential(multiplier=self.initial_backoff, max=self.max_backoff),
            stop=stop_after_delay(self.deadline),
            reraise=True,
        )

        async def attempt() -> SendResult:
            self.attempts += 1
            return await self.gateway.send(message, ledger)

        return await retrying(attempt)

    def _remember(self, result: SendResult) -> None:
        self._sent[result.nudge_id] = result
        self._sent.move_to_end(result.nudge_id)
        while len(self._sent) > self.remember:
            self._sent.popitem(last=False)
