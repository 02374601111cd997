"""The HTTP collector against a real Tansu broker.

The collector runs in-process on the test's free port (so a test can give it a dead broker
or a small body limit); one test starts it as ``python -m channelhub.ingest.collector`` to
cover the entry point. Topics are read back with a manually assigned consumer, because group
joins on Tansu take seconds. "Nothing was produced" is checked by sending a known batch
after the refused request and finding only that batch on the topics.
"""

import asyncio
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest
from aiohttp import web
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from channelhub.ingest.collector import create_app
from channelhub.platform import broker as tansu
from channelhub.platform.health import http_ok
from kernel.settings import CollectorClient, Settings
from schemas.dead_letter import DeadLetter
from tests.content.test_cli import REVIEWS as CONTENT_REVIEWS
from tests.content.test_cli import _ok as content_ok
from tests.factories import make_event
from tests.fixtures.services import Topics, free_port, start_process
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration

RunCollector = Callable[..., httpx.Client]

WEB_NAME = "roaming"
WEB_ITEM = f"web:changsha:{WEB_NAME}"


# --- helpers ---------------------------------------------------------------------------------


def event(**overrides: Any) -> dict[str, Any]:
    """A valid ``ivr.abandoned`` event; ``overrides`` replace envelope fields."""
    return make_event("ivr.abandoned", **overrides)


def json_batch(items: list[Any]) -> bytes:
    return msgspec.json.encode(items)


def read_topic(bootstrap: str, topic: str, at_least: int, timeout: float = 20.0) -> list[Any]:
    """Every record of ``topic`` once ``at_least`` arrived (or the deadline passed).

    One more short poll after that shows records beyond what was expected.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic)
        assert partitions, f"topic {topic} does not exist"
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while len(records) < at_least and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
        return records
    finally:
        consumer.close()


def assert_only_sentinel(client: httpx.Client, settings: Settings) -> None:
    """Send one valid and one invalid event; they must be all the topics hold."""
    sentinel = event()
    response = client.post("/v1/events", content=json_batch([sentinel, {"sentinel": True}]))
    assert response.status_code == 207, response.text
    raw = read_topic(settings.kafka_bootstrap, settings.topic_raw, at_least=1)
    dlq = read_topic(settings.kafka_bootstrap, settings.topic_dlq, at_least=1)
    assert [msgspec.json.decode(r.value)["event_id"] for r in raw] == [sentinel["event_id"]]
    assert [msgspec.json.decode(r.value, type=DeadLetter).payload for r in dlq] == [
        '{"sentinel":true}'
    ]


class _ServedApp:
    """An aiohttp app served on its own event loop in a thread, like a separate process."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._call(self._runner.setup())
        self._call(web.TCPSite(self._runner, host, port).start())

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def stop(self) -> None:
        self._call(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture
def run_collector(settings: Settings, topics: Topics) -> Iterator[RunCollector]:
    """Factory: serve the collector for ``settings`` (changes allowed) and return a client.

    The client carries the token and JSON content type; it waits for ``/health`` unless told
    the broker is meant to be unreachable.
    """
    served: list[_ServedApp] = []
    clients: list[httpx.Client] = []

    def run(
        *, wait_healthy: bool = True, delivery_timeout_s: float = 10.0, **changes: Any
    ) -> httpx.Client:
        config = settings.model_copy(update=changes)
        served.append(
            _ServedApp(
                create_app(config, delivery_timeout_s=delivery_timeout_s),
                config.collector_host,
                config.collector_port,
            )
        )
        client = httpx.Client(
            base_url=config.collector_url,
            headers={
                "Authorization": f"Bearer {config.collector_token.get_secret_value()}",
                "Content-Type": "application/json",
            },
            timeout=30,
        )
        clients.append(client)
        if wait_healthy:
            deadline = time.monotonic() + 30
            while client.get("/health").status_code != 200:
                assert time.monotonic() < deadline, client.get("/health").text
                time.sleep(0.1)
        return client

    yield run
    for client in clients:
        client.close()
    for app in served:
        app.stop()


# --- accepted batches --------------------------------------------------------------------------


def test_health_is_ok_once_connected(run_collector: RunCollector) -> None:
    client = run_collector()
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_json_array_lands_on_raw_keyed_by_subscriber(
    run_collector: RunCollector, settings: Settings
) -> None:
    client = run_collector()
    fault = make_event("kiosk.payment_completed", msisdn=None, brand=None)
    fault["event_type"] = "kiosk.terminal_fault"
    fault["attributes"] = {"terminal_id": "K0042", "fault_code": "printer.jam", "severity": "error"}
    events = [event(msisdn="13812345678"), event(msisdn="13987654321"), fault]
    body = json_batch(events)

    response = client.post("/v1/events", content=body)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "accepted": 3,
        "rejected": 0,
        "results": [
            {"index": i, "status": "accepted", "event_id": e["event_id"]}
            for i, e in enumerate(events)
        ],
    }
    raw = read_topic(settings.kafka_bootstrap, settings.topic_raw, at_least=3)
    assert sorted((r.key, r.value) for r in raw) == sorted(
        [
            (b"13812345678", msgspec.json.encode(events[0])),
            (b"13987654321", msgspec.json.encode(events[1])),
            (b"K0042", msgspec.json.encode(fault)),
        ]
    )
    assert read_topic(settings.kafka_bootstrap, settings.topic_dlq, at_least=0) == []


def test_ndjson_lines_land_on_raw_as_sent(run_collector: RunCollector, settings: Settings) -> None:
    client = run_collector()
    lines = [msgspec.json.encode(event()) for _ in range(3)]
    body = b"\n" + lines[0] + b"\r\n\n   \n" + lines[1] + b"\n" + lines[2]  # no final newline

    response = client.post(
        "/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"}
    )

    assert response.status_code == 200, response.text
    assert [r["index"] for r in response.json()["results"]] == [0, 1, 2]
    raw = read_topic(settings.kafka_bootstrap, settings.topic_raw, at_least=3)
    assert sorted(r.value for r in raw) == sorted(lines)


# --- rejected items ------------------------------------------------------------------------------


def test_mixed_batch_splits_between_raw_and_dead_letters(
    run_collector: RunCollector, settings: Settings
) -> None:
    client = run_collector()
    good = [event(), event()]
    no_id = {k: v for k, v in event().items() if k != "event_id"}
    items: list[Any] = [good[0], no_id, 42, event(msisdn="12345"), good[1]]
    body = json_batch(items)

    response = client.post("/v1/events", content=body)

    assert response.status_code == 207, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 3)
    results = answer["results"]
    assert [r["status"] for r in results] == [
        "accepted", "rejected", "rejected", "rejected", "accepted",
    ]  # fmt: skip
    assert (results[1]["reason_code"], results[1]["field"]) == ("missing_field", "$.event_id")
    assert results[2]["reason_code"] == "not_an_object"
    assert (results[3]["reason_code"], results[3]["field"]) == ("invalid_value", "$.msisdn")
    assert all(r["message"] for r in results if r["status"] == "rejected")

    raw = read_topic(settings.kafka_bootstrap, settings.topic_raw, at_least=2)
    assert sorted(msgspec.json.decode(r.value)["event_id"] for r in raw) == sorted(
        e["event_id"] for e in good
    )
    dlq = read_topic(settings.kafka_bootstrap, settings.topic_dlq, at_least=3)
    letters = sorted(
        (msgspec.json.decode(r.value, type=DeadLetter) for r in dlq),
        key=lambda d: d.source_offset,
    )
    assert [d.source_offset for d in letters] == [1, 2, 3]
    for letter, index in zip(letters, (1, 2, 3), strict=True):
        item = msgspec.json.encode(items[index])
        assert letter.source_topic == "collector"
        assert letter.source_partition == 0
        assert letter.dead_letter_id == f"collector:{hashlib.sha256(item).hexdigest()}"
        assert letter.payload == item.decode()
        assert letter.payload_bytes == len(item)
        assert letter.reason_code == results[index]["reason_code"]
        assert letter.received_at.tzinfo is not None
    assert {r.key for r in dlq} == {d.dead_letter_id.encode() for d in letters}

    retried = client.post("/v1/events", content=body).json()["results"]
    assert [r.get("dead_letter_id") for r in retried] == [r.get("dead_letter_id") for r in results]


def test_odd_text_survives_byte_for_byte(run_collector: RunCollector, settings: Settings) -> None:
    client = run_collector()
    texts = [
        "'; DROP TABLE events; -- \" OR 1=1 /*",
        "您好\uff0c查询话费 🎉👨‍👩‍👧 é́ \u202eRTL\u202c \u200b zero-width",
        'NUL \u0000 and controls \u0001\u001f, backslash \\ and quote "',
    ]
    sms = [
        make_event(
            "sms.message_received",
            attributes={"text": t, "matched_code": None, "match_kind": "unknown"},
        )
        for t in texts
    ]
    # Written by hand: escapes and spacing that a re-encoder would change.
    hand_written = (
        b'{ "event_id" : "' + str(uuid.uuid4()).encode() + b'", "event_type":"ivr.abandoned",'
        b'"schema_version":1,"channel":"ivr","occurred_at":"2026-11-27T07:00:00.123Z",'
        b'"msisdn":"13812345678","session_id":"\\u0063\\u0031","prefecture" :\t"\\u0063hangsha",'
        b'"brand":"gotone","attributes":{"wait_s":61.5} }'
    )
    not_utf8 = msgspec.json.encode(sms[0]).replace(texts[0].encode()[:2], b"\xff\xfe", 1)
    too_large = msgspec.json.encode(event(session_id="x" * 70_000))
    body = (
        b"[" + b",".join([*map(msgspec.json.encode, sms), hand_written, not_utf8, too_large]) + b"]"
    )

    response = client.post("/v1/events", content=body)

    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted"] * 4 + ["rejected"] * 2
    assert results[4]["reason_code"] == "not_utf8"
    assert results[5]["reason_code"] == "too_large"
    raw = read_topic(settings.kafka_bootstrap, settings.topic_raw, at_least=4)
    assert sorted(r.value for r in raw) == sorted([*map(msgspec.json.encode, sms), hand_written])
    assert {msgspec.json.decode(r.value)["attributes"].get("text") for r in raw} >= set(texts)
    dlq = read_topic(settings.kafka_bootstrap, settings.topic_dlq, at_least=2)
    payload_bytes = sorted(msgspec.json.decode(r.value, type=DeadLetter).payload_bytes for r in dlq)
    assert payload_bytes == sorted([len(not_utf8), len(too_large)])


# --- refused requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Basic bG9jYWw6dG9rZW4="},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer local-development-token-and-more"},
    ],
    ids=["missing", "wrong", "basic", "empty", "prefix"],
)
def test_bad_token_is_401_and_nothing_produced(
    run_collector: RunCollector, settings: Settings, headers: dict[str, str]
) -> None:
    client = run_collector()
    body = json_batch([event()])
    unauthenticated = httpx.Client(base_url=str(client.base_url), timeout=30)

    response = unauthenticated.post(
        "/v1/events", content=body, headers={"Content-Type": "application/json", **headers}
    )
    unauthenticated.close()

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"
    assert "Authorization: Bearer" in response.json()["message"]
    assert_only_sentinel(client, settings)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_413_and_nothing_produced(
    run_collector: RunCollector, settings: Settings, chunked: bool
) -> None:
    client = run_collector(collector_max_body_bytes=4096)
    body = json_batch([event() for _ in range(20)])
    assert len(body) > 4096

    content = iter([body[i : i + 1000] for i in range(0, len(body), 1000)]) if chunked else body
    response = client.post("/v1/events", content=content)

    assert response.status_code == 413, response.text
    assert response.json()["error"] == "payload_too_large"
    assert "4096 bytes" in response.json()["message"]
    assert_only_sentinel(client, settings)


def test_too_many_items_is_413(run_collector: RunCollector, settings: Settings) -> None:
    client = run_collector()
    response = client.post("/v1/events", content=b"[" + b",".join([b"{}"] * 10_001) + b"]")
    assert response.status_code == 413
    assert response.json()["error"] == "too_many_items"
    assert "10000" in response.json()["message"]
    assert_only_sentinel(client, settings)


@pytest.mark.parametrize(
    ("content_type", "body", "status", "error", "hint"),
    [
        ("application/json", b"this is not json", 400, "not_json", "not valid JSON"),
        ("application/json", b'[{"a": 1},', 400, "not_json", "not valid JSON"),
        ("application/json", b'{"event_id": "x"}', 400, "not_an_array", "wrap it in [ ]"),
        ("application/json", b"[]", 400, "empty_batch", "at least one"),
        ("application/json", b"", 400, "empty_batch", "at least one"),
        ("application/x-ndjson", b'{"a": 1}\n{oops\n', 400, "not_json", "line 2"),
        ("application/x-ndjson", b"\n \r\n\n", 400, "empty_batch", "at least one"),
        ("text/plain", b"[]", 415, "unsupported_media_type", "application/x-ndjson"),
    ],
    ids=["prose", "truncated", "object", "empty-array", "empty-body", "ndjson-line", "blank",
         "text-plain"],
)  # fmt: skip
def test_malformed_body_is_refused_whole(
    run_collector: RunCollector,
    settings: Settings,
    content_type: str,
    body: bytes,
    status: int,
    error: str,
    hint: str,
) -> None:
    client = run_collector()
    response = client.post("/v1/events", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert hint in response.json()["message"]
    assert_only_sentinel(client, settings)


def test_unreachable_broker_is_503_with_retry_after(run_collector: RunCollector) -> None:
    client = run_collector(kafka_bootstrap=f"127.0.0.1:{free_port()}", wait_healthy=False)

    health = client.get("/health")
    response = client.post("/v1/events", content=json_batch([event()]))

    assert health.status_code == 503
    assert health.json()["status"] == "starting"
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"] == "broker_unavailable"


def test_broker_lost_mid_flight_is_503_not_accepted(
    run_collector: RunCollector, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A broker of the test's own, stopped after the collector connected."""
    bootstrap = f"127.0.0.1:{free_port()}"
    own_broker = start_process(tansu.spec(bootstrap), tmp_path_factory.mktemp("lost-broker"))
    try:
        tansu.ensure_topics(bootstrap, [settings.topic_raw, settings.topic_dlq], 4)
        client = run_collector(kafka_bootstrap=bootstrap, delivery_timeout_s=3.0)
        assert client.post("/v1/events", content=json_batch([event()])).status_code == 200
    finally:
        own_broker.stop()

    started = time.monotonic()
    response = client.post("/v1/events", content=json_batch([event(), {"bad": 1}]))

    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert "send it again" in response.json()["message"]
    assert time.monotonic() - started < 15


# --- the entry point ---------------------------------------------------------------------------


def test_python_dash_m_starts_the_collector(
    start_service: Callable[..., Any], settings: Settings, topics: Topics
) -> None:
    start_service(
        "collector",
        "channelhub.ingest.collector",
        settings,
        health=http_ok(f"{settings.collector_url}/health"),
    )
    sent = event()
    response = httpx.post(
        f"{settings.collector_url}/v1/events",
        content=msgspec.json.encode(sent) + b"\n",
        headers={
            "Authorization": f"Bearer {settings.collector_token.get_secret_value()}",
            "Content-Type": "application/x-ndjson",
        },
    )
    assert response.status_code == 200, response.text
    raw = read_topic(settings.kafka_bootstrap, topics.raw, at_least=1)
    assert [r.value for r in raw] == [msgspec.json.encode(sent)]


# --- identities ----------------------------------------------------------------------------------


def test_each_client_sends_only_its_channels_at_its_rate(
    run_collector: RunCollector, settings: Settings
) -> None:
    ivr_token, sms_token = "i" * 32, "s" * 32
    client = run_collector(
        collector_clients={
            "ivr-platform": CollectorClient(
                token=ivr_token, channels=("ivr",), per_second=0.001, burst=3
            ),
            "sms-hall": CollectorClient(token=sms_token, channels=("sms",)),
        }
    )
    as_ivr = {"Authorization": f"Bearer {ivr_token}"}
    assert client.post("/v1/events", content=json_batch([event()])).status_code == 401

    mixed = client.post(
        "/v1/events",
        content=json_batch([event(), make_event("sms.message_received")]),
        headers=as_ivr,
    )
    assert mixed.status_code == 207, mixed.text
    refused = mixed.json()["results"][1]
    assert refused["reason_code"] == "channel_not_allowed"
    assert refused["message"] == "client 'ivr-platform' may send ivr events only; this one is sms"

    flood = client.post("/v1/events", content=json_batch([event(), event()]), headers=as_ivr)
    assert flood.status_code == 429, flood.text
    assert flood.json()["error"] == "rate_limited"
    assert "client 'ivr-platform' may send 0.001 events/s in bursts of at most 3" in flood.text
    assert int(flood.headers["Retry-After"]) > 0
    too_big = client.post("/v1/events", content=json_batch([event()] * 4), headers=as_ivr)
    assert (too_big.status_code, "Retry-After" in too_big.headers) == (429, False)
    assert "split this batch of 4" in too_big.text

    other = client.post(
        "/v1/events",
        content=json_batch([make_event("sms.message_received")]),
        headers={"Authorization": f"Bearer {sms_token}"},
    )
    assert other.status_code == 200, other.text  # one client's limit is not another's


# --- web-hall content ------------------------------------------------------------------------


def test_a_web_hall_is_served_only_the_published_version_of_its_content(
    run_collector: RunCollector, settings: Settings
) -> None:
    """Drafted through ``channelhub content``: not served while in review, served once the
    four reviews publish it, and a newer draft does not replace it until it is published."""
    client = run_collector(rules_reload_seconds=0.2)

    def answer(name: str, wanted: Callable[[httpx.Response], bool]) -> dict[str, Any]:
        """The answer for ``name`` once ``wanted``: the collector reads the topic again
        every 0.2 s."""

        def got() -> dict[str, Any] | None:
            response = client.get(f"/content/web/changsha/{name}")
            return {"status": response.status_code, **response.json()} if wanted(response) else None

        found = wait_for(got, f"the answer for {name} as wanted", timeout=20)
        assert found is not None
        return found

    def publish(item: str, text: str) -> None:
        content_ok(settings, "draft", item, text, "--by", "editor")
        for step, who in CONTENT_REVIEWS:
            content_ok(settings, "step", item, step, "--by", who)

    wrong = client.get(f"/content/web/changsha/{WEB_NAME}", headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401
    unknown = answer(WEB_NAME, lambda r: r.status_code == 404)
    assert unknown["error"] == "unknown_item"
    assert f"`channelhub content draft {WEB_ITEM} TEXT`" in unknown["message"]

    content_ok(settings, "draft", WEB_ITEM, "漫游可在网上营业厅开通", "--by", "editor")
    for step, who in CONTENT_REVIEWS[:3]:
        content_ok(settings, "step", WEB_ITEM, step, "--by", who)
    in_review = answer(WEB_NAME, lambda r: r.json().get("error") == "not_published")
    assert in_review["status"] == 404
    assert "version 1 waits for published by a service_centre" in in_review["message"]
    content_ok(settings, "step", WEB_ITEM, "published", "--by", "centre")
    first = answer(WEB_NAME, lambda r: r.status_code == 200)
    assert (first["item"], first["version"]) == (WEB_ITEM, 1)
    assert first["text"] == "漫游可在网上营业厅开通"

    content_ok(settings, "draft", WEB_ITEM, "漫游请发送短信开通", "--by", "editor")
    for step, who in CONTENT_REVIEWS[:3]:
        content_ok(settings, "step", WEB_ITEM, step, "--by", who)
    publish("web:changsha:hours", "营业时间九点至十七点")
    # Served once the collector read the topic past the new version's draft and reviews.
    assert answer("hours", lambda r: r.status_code == 200)["version"] == 1
    assert answer(WEB_NAME, lambda r: True) == first
    content_ok(settings, "step", WEB_ITEM, "published", "--by", "centre")
    second = answer(WEB_NAME, lambda r: r.json().get("version") == 2)
    assert second["text"] == "漫游请发送短信开通"
