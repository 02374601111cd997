"""ReliableSender: backoff on retryable errors, none on permanent ones, once per nudge id."""

import asyncio

import pytest

from orchestration.dispatch import (
    InvalidNumberError,
    OutboundSms,
    ReliableSender,
    RetryableGatewayError,
    SendResult,
    SubmitLedger,
)

MESSAGE = OutboundSms(nudge_id="n1", msisdn="13800000001", text="您好")


class ScriptedGateway:
    """Raises the scripted errors in turn, then accepts; counts every call."""

    name = "scripted"

    def __init__(self, *errors: Exception, delay: float = 0.0) -> None:
        self.errors = list(errors)
        self.delay = delay
        self.calls: list[str] = []

    async def send(self, message: OutboundSms, ledger: SubmitLedger | None = None) -> SendResult:
        self.calls.append(message.nudge_id)
        await asyncio.sleep(self.delay)
        if self.errors:
            raise self.errors.pop(0)
        return SendResult(
            nudge_id=message.nudge_id, gateway=self.name, message_ids=("m1",), segments=1
        )

    async def close(self) -> None:
        pass


def sender(gateway: ScriptedGateway, deadline: float = 5.0) -> ReliableSender:
    return ReliableSender(gateway, deadline=deadline, initial_backoff=0.01, max_backoff=0.05)


def test_retryable_errors_are_retried_until_success() -> None:
    down = RetryableGatewayError("scripted", "down")
    gateway = ScriptedGateway(down, down, down)
    result = asyncio.run(sender(gateway).send(MESSAGE))
    assert result.message_ids == ("m1",)
    assert gateway.calls == ["n1"] * 4


def test_permanent_error_is_raised_at_once() -> None:
    gateway = ScriptedGateway(InvalidNumberError("scripted", "no such number"))
    with pytest.raises(InvalidNumberError, match="no such number"):
        asyncio.run(sender(gateway).send(MESSAGE))
    assert gateway.calls == ["n1"]


def test_deadline_reraises_the_last_retryable_error() -> None:
    gateway = ScriptedGateway(*[RetryableGatewayError("scripted", "down")] * 1000)
    with pytest.raises(RetryableGatewayError, match="down"):
        asyncio.run(sender(gateway, deadline=0.2).send(MESSAGE))
    assert 2 <= len(gateway.calls) < 1000


def test_same_nudge_is_sent_once_sequentially_and_concurrently() -> None:
    gateway = ScriptedGateway(delay=0.05)
    reliable = sender(gateway)

    async def scenario() -> list[SendResult]:
        together = await asyncio.gather(*(reliable.send(MESSAGE) for _ in range(5)))
        return [*together, await reliable.send(MESSAGE)]

    results = asyncio.run(scenario())
    assert gateway.calls == ["n1"]
    assert len(set(results)) == 1
    assert reliable.attempts == 1


def test_forgets_the_oldest_beyond_its_memory() -> None:
    gateway = ScriptedGateway()
    reliable = ReliableSender(gateway, remember=2)

    async def scenario() -> None:
        for nudge in ("a", "b", "c", "a"):
            await reliable.send(OutboundSms(nudge_id=nudge, msisdn="13800000001", text="x"))

    asyncio.run(scenario())
    assert gateway.calls == ["a", "b", "c", "a"]
