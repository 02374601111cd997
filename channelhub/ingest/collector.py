"""The HTTP collector: the front door through which channel systems send events.

A channel system POSTs a batch (a JSON array or NDJSON) to ``/v1/events`` with its own bearer
token (:mod:`channelhub.ingest.identities`), which names its channels and rate. Each item is
validated; valid events go to the raw topic keyed by subscriber, invalid
ones to the dead-letter topic with the reason. The reply comes only after the broker has
acknowledged every record, so "accepted" means durable, and it says per item what happened.
The API for channel-system developers is in ``docs/collector.md``.

The prefectures' web halls read from it too, with their own tokens: ``GET
/content/web/<prefecture>/<name>`` answers the item's published version and its number
(:mod:`channelhub.ingest.web_content`), from ``channel.content`` read again at most every
``rules_reload_seconds``; a broker that does not answer leaves the content last read.

Run it with ``python -m channelhub.ingest.collector``; settings come from the environment.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import msgspec
from aiohttp import web

from channelhub.ingest.http_batch import RequestRefusedError, judge, split_items
from channelhub.ingest.http_broker import BrokerUnavailableError, BrokerWriter
from channelhub.ingest.identities import Allowance, Client, clients, identify
from channelhub.ingest.web_content import served
from kernel import startup
from kernel.errors import ConfigError
from kernel.settings import Settings
from orchestration.content import Content
from streams.content import PublishedContent

log = logging.getLogger("channelhub.ingest.collector")  # not "__main__" under -m

#: Seconds a client should wait before resending a batch the broker did not take.
RETRY_AFTER_S = 5

SETTINGS = web.AppKey("settings", Settings)
WRITER = web.AppKey("writer", BrokerWriter)
CLIENTS = web.AppKey("clients", list[Client])
ALLOWANCES = web.AppKey("allowances", dict[str, Allowance])


class FollowedContent:
    """``channel.content`` folded, read again when asked at most every ``every_s`` seconds."""

    def __init__(self, settings: Settings) -> None:
        self.published = PublishedContent(settings)
        self.every_s = settings.rules_reload_seconds
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def content(self) -> Content:
        async with self._lock:
            if time.monotonic() >= self._next:
                await asyncio.to_thread(self.published.poll)
                self._next = time.monotonic() + self.every_s
        return self.published.content


CONTENT = web.AppKey("content", FollowedContent)


def create_app(settings: Settings, *, delivery_timeout_s: float = 10.0) -> web.Application:
    """The collector as an aiohttp application; the producer connects when it starts.

    ``client_max_size`` makes aiohttp stop reading a body at the limit, so an oversized
    request costs at most ``collector_max_body_bytes`` of memory.
    """
    known = clients(settings)
    app = web.Application(client_max_size=settings.collector_max_body_bytes)
    app[SETTINGS] = settings
    app[CLIENTS] = known
    app[ALLOWANCES] = {c.name: Allowance(c, time.monotonic()) for c in known}
    app[WRITER] = BrokerWriter(
        settings.kafka_bootstrap,
        (settings.topic_raw, settings.topic_dlq),
        delivery_timeout_s=delivery_timeout_s,
    )
    app[CONTENT] = FollowedContent(settings)
    app.router.add_get("/health", health)
    app.router.add_post("/v1/events", post_events)
    app.router.add_get("/content/web/{prefecture}/{name}", get_web_content)
    app.cleanup_ctx.append(_producer_lifecycle)
    app.on_cleanup.append(_close_content)
    return app


async def _close_content(app: web.Application) -> None:
    await asyncio.to_thread(app[CONTENT].published.close)


async def _producer_lifecycle(app: web.Application) -> AsyncIterator[None]:
    writer = app[WRITER]
    connecting = asyncio.create_task(writer.connect())
    yield
    connecting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await connecting
    await writer.close()


async def health(request: web.Request) -> web.Response:
    """200 once the producer can write to both topics, 503 while it is still connecting."""
    writer = request.app[WRITER]
    if writer.ready:
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "starting", "message": writer.last_error}, status=503)


async def post_events(request: web.Request) -> web.Response:
    """Take one batch; log one line whatever the outcome."""
    started = time.perf_counter()
    try:
        return await _ingest(request, started)
    except RequestRefusedError as refusal:
        log.log(
            logging.ERROR if refusal.status >= 500 else logging.WARNING,
            "POST /v1/events %d %s from %s in %.1f ms: %s",
            refusal.status, refusal.code, request.remote, _ms_since(started), refusal.message,
        )  # fmt: skip
        return _refusal_response(refusal)


async def get_web_content(request: web.Request) -> web.Response:
    """A web hall asks for the text it may show: the item's published version, never a
    draft; one log line for a refusal."""
    try:
        if identify(request.headers.get("Authorization"), request.app[CLIENTS]) is None:
            raise RequestRefusedError(
                401, "unauthorized", "send the header 'Authorization: Bearer <your token>'"
            )
        content = await request.app[CONTENT].content()
        answer = served(content, request.match_info["prefecture"], request.match_info["name"])
    except RequestRefusedError as refusal:
        log.warning("GET %s %d %s from %s: %s", request.path, refusal.status, refusal.code,
                    request.remote, refusal.message)  # fmt: skip
        return _refusal_response(refusal)
    return web.Response(body=msgspec.json.encode(answer), content_type="application/json")


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def _ingest(request: web.Request, started: float) -> web.Response:
    settings = request.app[SETTINGS]
    client = identify(request.headers.get("Authorization"), request.app[CLIENTS])
    if client is None:
        raise RequestRefusedError(
            401, "unauthorized", "send the header 'Authorization: Bearer <your token>'"
        )
    writer = request.app[WRITER]
    if not writer.ready:
        raise RequestRefusedError(
            503, "broker_unavailable", writer.last_error, retry_after=RETRY_AFTER_S
        )
    body = await _read_body(request, settings.collector_max_body_bytes)
    items = split_items(body, request.content_type)
    wait = request.app[ALLOWANCES][client.name].take(len(items), time.monotonic())
    if wait > 0:
        raise RequestRefusedError(
            429,
            "rate_limited",
            f"client {client.name!r} may send {client.per_second:g} events/s in bursts of at "
            f"most {client.burst}; "
            + (f"split this batch of {len(items)}" if math.isinf(wait) else "send it again later"),
            retry_after=None if math.isinf(wait) else max(1, math.ceil(wait)),
        )
    judged = judge(
        items,
        topic_raw=settings.topic_raw,
        topic_dlq=settings.topic_dlq,
        received_at=datetime.now(UTC),
        skew=timedelta(seconds=settings.clock_skew_seconds),
        client=client.name,
        channels=client.channels,
    )
    try:
        await writer.write(judged.records)
    except BrokerUnavailableError as e:
        raise RequestRefusedError(
            503,
            "broker_unavailable",
            f"{e}; nothing in this batch is acknowledged, send it again",
            retry_after=RETRY_AFTER_S,
        ) from e
    status = 200 if judged.rejected == 0 else 207
    log.info(
        "POST /v1/events %d accepted=%d rejected=%d bytes=%d from %s (%s) in %.1f ms",
        status, judged.accepted, judged.rejected, len(body), client.name, request.remote,
        _ms_since(started),
    )  # fmt: skip
    payload = {"accepted": judged.accepted, "rejected": judged.rejected, "results": judged.results}
    return web.Response(
        body=msgspec.json.encode(payload), status=status, content_type="application/json"
    )


async def _read_body(request: web.Request, limit: int) -> bytes:
    too_large = RequestRefusedError(
        413,
        "payload_too_large",
        f"the body is larger than {limit} bytes; split the batch into several requests",
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as e:
        raise too_large from e


def _refusal_response(refusal: RequestRefusedError) -> web.Response:
    headers: dict[str, str] = {}
    if refusal.retry_after is not None:
        headers["Retry-After"] = str(refusal.retry_after)
    if refusal.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="channelhub"'
    return web.json_response(
        {"error": refusal.code, "message": refusal.message},
        status=refusal.status,
        headers=headers,
    )


def main() -> None:
    """Entry point of ``python -m channelhub.ingest.collector``."""
    settings = startup.start("collector", "collector_token")
    try:
        app = create_app(settings)
    except ConfigError as e:
        startup.refuse("collector", str(e))
    log.info("listening on %s", settings.collector_url)
    web.run_app(
        app,
        host=settings.collector_host,
        port=settings.collector_port,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
