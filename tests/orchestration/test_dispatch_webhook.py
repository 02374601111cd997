"""The webhook gateway against a real aiohttp server on 127.0.0.1."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
from aiohttp import web

from orchestration.dispatch import (
    DeliveryReceipt,
    GatewayReport,
    InboundReply,
    InDoubtError,
    InvalidNumberError,
    OutboundSms,
    PermanentGatewayError,
    ReliableSender,
    RetryableGatewayError,
    WebhookGateway,
)
from tests.fixtures.services import free_port

MESSAGE = OutboundSms(nudge_id="n-web", msisdn="13800000001", text="余" * 100)


class Aggregator:
    """A fake SMS aggregator: ``/ok``, ``/flaky`` (503 twice, then ok), ``/bad``, ``/invalid``,
    ``/slow`` (answers after 2 s)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.keys: Counter[str] = Counter()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/ok", self.accept),
            web.post("/flaky", self.flaky),
            web.post("/bad", self.status(400)),
            web.post("/invalid", self.status(422, '{"error": "invalid_number"}')),
            web.post("/slow", self.slow),
        ]

    async def slow(self, request: web.Request) -> web.Response:
        """Takes the message, then answers too late: the sender cannot know it was taken."""
        self.keys[request.headers["Idempotency-Key"]] += 1
        await asyncio.sleep(2)
        return await self.accept(request)

    async def accept(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append(body)
        key = request.headers["Idempotency-Key"]
        ids = [f"{key}-{i}" for i in range(body["segments"])]
        return web.json_response({"message_ids": ids})

    async def flaky(self, request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        self.keys[key] += 1
        if self.keys[key] <= 2:
            return web.Response(status=503, text="overloaded")
        return await self.accept(request)

    def status(
        self, code: int, text: str = "no"
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=code, text=text)

        return handler


@asynccontextmanager
async def serving(aggregator: Aggregator) -> AsyncIterator[str]:
    app = web.Application()
    app.add_routes(aggregator.routes())
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.integration
def test_success_posts_the_message_and_returns_ids() -> None:
    aggregator = Aggregator()

    async def scenario() -> None:
        async with serving(aggregator) as base:
            gateway = WebhookGateway(f"{base}/ok")
            try:
                result = await gateway.send(MESSAGE)
            finally:
                await gateway.close()
        assert result.message_ids == ("n-web-0", "n-web-1")
        assert result.segments == 2
        receipt = gateway.accept_callback(
            b'{"type": "receipt", "message_id": "n-web-1", "status": "delivered"}'
        )
        assert isinstance(receipt, DeliveryReceipt)
        assert (receipt.nudge_id, receipt.status) == ("n-web", "delivered")

    asyncio.run(scenario())
    assert aggregator.bodies == [
        {
            "nudge_id": "n-web",
            "msisdn": "13800000001",
            "text": MESSAGE.text,
            "data_coding": 8,
            "segments": 2,
        }
    ]


@pytest.mark.integration
def test_5xx_is_retried_with_the_same_idempotency_key() -> None:
    aggregator = Aggregator()

    async def scenario() -> None:
        async with serving(aggregator) as base:
            gateway = WebhookGateway(f"{base}/flaky")
            with pytest.raises(RetryableGatewayError, match="answered 503"):
                await gateway.send(MESSAGE)
            sender = ReliableSender(gateway, initial_backoff=0.01, max_backoff=0.05, deadline=5)
            try:
                await sender.send(MESSAGE)
                await sender.send(MESSAGE)
            finally:
                await gateway.close()

    asyncio.run(scenario())
    assert aggregator.keys == {"n-web": 3}
    assert len(aggregator.bodies) == 1


@pytest.mark.integration
@pytest.mark.parametrize(
    ("path", "error"), [("/bad", PermanentGatewayError), ("/invalid", InvalidNumberError)]
)
def test_4xx_is_permanent_and_not_retried(path: str, error: type[Exception]) -> None:
    async def scenario() -> None:
        async with serving(Aggregator()) as base:
            gateway = WebhookGateway(f"{base}{path}")
            sender = ReliableSender(gateway, initial_backoff=0.01, deadline=5)
            try:
                with pytest.raises(error):
                    await sender.send(MESSAGE)
            finally:
                await gateway.close()
            assert sender.attempts == 1

    asyncio.run(scenario())


@pytest.mark.integration
def test_a_lost_answer_is_in_doubt_and_not_posted_again() -> None:
    aggregator = Aggregator()

    async def scenario() -> None:
        async with serving(aggregator) as base:
            gateway = WebhookGateway(f"{base}/slow", timeout=0.5)
            sender = ReliableSender(gateway, initial_backoff=0.01, deadline=5)
            try:
                for _ in range(2):
                    with pytest.raises(InDoubtError, match=r"not (sent|submitted) again"):
                        await sender.send(MESSAGE)
            finally:
                await gateway.close()
            assert sender.attempts == 2

    asyncio.run(scenario())
    assert aggregator.keys == {"n-web": 1}


@pytest.mark.integration
def test_unreachable_gateway_is_retryable() -> None:
    async def scenario() -> None:
        gateway = WebhookGateway(f"http://127.0.0.1:{free_port()}/ok", timeout=2)
        try:
            with pytest.raises(RetryableGatewayError, match="ConnectError"):
                await gateway.send(MESSAGE)
        finally:
            await gateway.close()

    asyncio.run(scenario())


def test_callbacks_become_receipts_and_replies() -> None:
    reports: list[GatewayReport] = []
    gateway = WebhookGateway("http://127.0.0.1:9/unused", on_report=reports.append)
    gateway.accept_callback(b'{"type": "receipt", "message_id": "m-1", "status": "expired"}')
    gateway.accept_callback('{"type": "reply", "msisdn": "13800000001", "text": "满意 5"}'.encode())
    receipt, reply = reports
    assert isinstance(receipt, DeliveryReceipt)
    assert (receipt.message_id, receipt.nudge_id, receipt.status) == ("m-1", None, "expired")
    assert isinstance(reply, InboundReply)
    assert (reply.msisdn, reply.text) == ("13800000001", "满意 5")
    with pytest.raises(msgspec.ValidationError, match="status"):
        gateway.accept_callback(b'{"type": "receipt", "message_id": "m-2", "status": "lost"}')
