"""The dispatcher process on the real broker and ClickHouse, with each kind of gateway.

Approved nudges are produced to ``nudges.outbound`` as the nudge stage would; the dispatcher
(``python -m streams --stage dispatch``) and the sink run as processes. Each nudge must reach
the gateway exactly once — also across a SIGKILL and a gateway that answers 503 for longer
than the sender's deadline — and end as one ``Dispatch`` row; receipts and replies must come
back through their topics into ClickHouse.
"""

import asyncio
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from aiohttp import web
from clickhouse_driver import Client
from kafka import KafkaProducer

from channelhub.platform.health import tcp_open
from channelhub.platform.process import ManagedProcess
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from orchestration.dispatch.factory import outbox_path
from orchestration.dispatch.file_gateway import OutboxLine
from schemas.nudges import DecidedNudge
from sinks import migrations
from sinks.client import connect
from streams.dispatcher import CALLBACK_PATH
from tests.dispatch.nudges import approved, msisdn
from tests.fixtures.services import StartService, Topics, free_port, start_process
from tests.fixtures.waiting import wait_for
from tests.orchestration.smpp_server import smsc_spec

pytestmark = pytest.mark.integration

LONG = "尊敬的客户 " + "您本月的话费账单已出 详情请登录网上营业厅查询 " * 4  # two UCS-2 parts
TOO_LONG = "长" * (255 * 67 + 1)  # more parts than a concatenation header can number
TOKEN = "callback-secret"


def _settings(settings: Settings, **values: Any) -> Settings:
    return settings.model_copy(
        update={"dispatcher_web_port": free_port(), "sms_callback_token": TOKEN, **values}
    )


def _produce(settings: Settings, nudges: list[DecidedNudge]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for nudge in nudges:
        value = msgspec.json.encode(nudge)
        producer.send(settings.topic_nudges_outbound, value, key=nudge.request.msisdn.encode())
    producer.flush()
    producer.close()


def _start(
    settings: Settings, start_service: StartService, *, validate: bool = False
) -> ManagedProcess:
    """Migrations, the sink, the validation worker if asked, and the dispatcher."""
    migrations.migrate(settings)
    start_service("sink", "sinks", settings)
    if validate:
        start_service(
            "worker", "streams", settings, "--stage", "validate",
            health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120,
        )  # fmt: skip
    return start_service(
        "dispatcher", "streams", settings, "--stage", "dispatch",
        health=tcp_open("127.0.0.1", settings.dispatcher_web_port), timeout=120,
    )  # fmt: skip


def _count(client: Client, table: str) -> int:
    ((n,),) = client.execute(f"SELECT count() FROM {table}")  # our own table names
    return int(n)


def _dispatches(client: Client) -> dict[str, tuple[str, list[str], str]]:
    rows = client.execute("SELECT nudge_id, status, message_ids, error FROM nudge_dispatches")
    assert len(rows) == len({r[0] for r in rows}), "a nudge has more than one dispatch row"
    return {nudge_id: (status, ids, error) for nudge_id, status, ids, error in rows}


def _outbox(settings: Settings) -> list[OutboxLine]:
    path = outbox_path(settings)
    if not path.exists():
        return []
    decoder = msgspec.json.Decoder(OutboxLine)
    return [decoder.decode(line) for line in path.read_bytes().splitlines() if line]


def test_file_gateway_sends_each_nudge_once_with_dispatches_and_receipts(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    s = _settings(settings)
    nudges = [approved(i, text=LONG if i % 3 == 0 else "") for i in range(60)]
    nudges.append(approved(60, text=TOO_LONG))
    _produce(s, nudges + nudges[:10])  # the nudge stage redoing a batch repeats records
    _start(s, start_service)
    client = connect(s)
    wait_for(lambda: _count(client, "nudge_dispatches") >= 61, "61 dispatches", timeout=120)

    lines = _outbox(s)
    assert sorted(line.nudge_id for line in lines) == [n.request.nudge_id for n in nudges[:60]]
    dispatches = _dispatches(client)
    status, _, error = dispatches.pop("n-00060")
    assert status == "failed"
    assert "needs 256 SMS parts" in error
    assert dispatches == {line.nudge_id: ("sent", list(line.message_ids), "") for line in lines}
    assert {line.segments for line in lines} == {1, 2}

    segments = sum(line.segments for line in lines)
    wait_for(lambda: _count(client, "nudge_receipts") >= segments, "every receipt", timeout=60)
    receipts = client.execute("SELECT message_id, nudge_id, status FROM nudge_receipts")
    assert sorted(receipts) == sorted(
        (mid, line.nudge_id, "delivered") for line in lines for mid in line.message_ids
    )


def test_sigkill_mid_run_loses_no_nudge_and_sends_none_twice(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    s = _settings(settings)
    total = 10_000
    _produce(s, [approved(i) for i in range(total)])
    dispatcher = _start(s, start_service)
    wait_for(lambda: len(_outbox(s)) >= 1500, "the first 1500 SMS", timeout=120)
    assert dispatcher.pid is not None
    os.killpg(dispatcher.pid, signal.SIGKILL)
    assert dispatcher.wait(timeout=10) == -signal.SIGKILL
    killed_at = len(_outbox(s))
    assert killed_at < total, "the dispatcher finished before it could be killed"
    dispatcher.start()
    dispatcher.wait_healthy()

    client = connect(s)
    wait_for(
        lambda: _count(client, "nudge_dispatches") >= total, f"{total} dispatches", timeout=240
    )
    sent = Counter(line.nudge_id for line in _outbox(s))
    assert len(sent) == total
    assert max(sent.values()) == 1
    assert set(_dispatches(client)) == set(sent)


class Aggregator:
    """An SMS aggregator on 127.0.0.1 that answers 503 for ``down_for`` seconds after its
    first request, then accepts; counts accepted POSTs per ``Idempotency-Key``."""

    def __init__(self, down_for: float) -> None:
        self.port = free_port()
        self.down_for = down_for
        self.first_request: float | None = None
        self.refused = 0
        self.accepted: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms"

    async def handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        self.first_request = self.first_request or now
        if now - self.first_request < self.down_for:
            self.refused += 1
            return web.Response(status=503, text="overloaded")
        key = request.headers["Idempotency-Key"]
        self.accepted[key] += 1
        body = await request.json()
        return web.json_response({"message_ids": [f"{key}-{i}" for i in range(body["segments"])]})

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/sms", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __enter__(self) -> "Aggregator":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def aggregator() -> Iterator[Aggregator]:
    with Aggregator(down_for=6.0) as running:
        yield running


def test_webhook_down_for_a_while_then_everything_once_with_receipts_and_a_reply(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    aggregator: Aggregator,
) -> None:  # fmt: skip
    s = _settings(
        settings, sms_gateway="webhook", sms_webhook_url=aggregator.url,
        dispatch_deadline_seconds=1.5,
    )  # fmt: skip
    nudges = [approved(i) for i in range(40)]
    _produce(s, nudges)
    _start(s, start_service, validate=True)
    client = connect(s)
    wait_for(lambda: _count(client, "nudge_dispatches") >= 40, "40 dispatches", timeout=120)

    assert aggregator.accepted == Counter({n.request.nudge_id: 1 for n in nudges})
    assert aggregator.refused > 0
    assert "given back" in (s.state_dir / "logs" / "dispatcher.log").read_text()
    assert {status for status, _, _ in _dispatches(client).values()} == {"sent"}

    callback = f"http://127.0.0.1:{s.dispatcher_web_port}{CALLBACK_PATH}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    receipt = {"type": "receipt", "message_id": "n-00003-0", "status": "delivered"}
    reply = {"type": "reply", "msisdn": "86" + msisdn(3), "text": "4", "to": "10086"}
    assert httpx.post(callback, json=receipt).status_code == 401
    assert httpx.post(callback, json={"type": "other"}, headers=auth).status_code == 400
    for body in (receipt, reply):
        assert httpx.post(callback, json=body, headers=auth, timeout=15).status_code == 202

    wait_for(lambda: _count(client, "nudge_receipts") >= 1, "the receipt", timeout=60)
    assert client.execute("SELECT message_id, nudge_id, status FROM nudge_receipts") == [
        ("n-00003-0", "n-00003", "delivered")
    ]
    wait_for(lambda: _count(client, "events") >= 1, "the reply event", timeout=60)
    subscriber = Pseudonymizer.from_settings(s)(msisdn(3))
    assert client.execute(
        "SELECT event_type, subscriber, prefecture, brand, session_id, "
        "visitParamExtractString(attributes, 'text') FROM events"
    ) == [("sms.message_received", subscriber, "xiangxi", "gotone", "reply-n-00003", "4")]


def test_smpp_receipts_and_replies_reach_clickhouse(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    tmp_path: Path,
) -> None:  # fmt: skip
    port = free_port()
    smsc = start_process(smsc_spec(port, tmp_path / "submits.jsonl", mo_text="5"), tmp_path)
    try:
        s = _settings(settings, sms_gateway="smpp", sms_smpp_port=port)
        nudges = [approved(i) for i in range(5)]
        _produce(s, nudges)
        _start(s, start_service, validate=True)
        client = connect(s)
        wait_for(lambda: _count(client, "events") >= 5, "5 replies", timeout=120)
        wait_for(lambda: _count(client, "nudge_receipts") >= 5, "5 receipts", timeout=60)
    finally:
        smsc.stop()
    dispatches = _dispatches(client)
    assert {status for status, _, _ in dispatches.values()} == {"sent"}
    receipts = client.execute("SELECT message_id, nudge_id, status FROM nudge_receipts")
    assert sorted(receipts) == sorted(
        (ids[0], nudge_id, "delivered") for nudge_id, (_, ids, _) in dispatches.items()
    )
    replies = client.execute(
        "SELECT session_id, prefecture, visitParamExtractString(attributes, 'text') FROM events"
    )
    assert sorted(replies) == [
        (f"reply-{n.request.nudge_id}", n.request.prefecture, "5") for n in nudges
    ]
