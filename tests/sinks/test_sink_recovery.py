"""The sink never stops and never doubles, on the real broker and ClickHouse: a row the server
refuses, ClickHouse gone mid-run while partitions move, and a duplicate after the memory's
horizon. Each ends in exact counts: rows, distinct ids, rows under ``FINAL`` and the sum of
``events_per_minute`` all agree."""

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from aiokafka import TopicPartition
from clickhouse_driver import Client
from kafka import KafkaConsumer, KafkaProducer

from kernel.settings import Settings
from sinks import migrations, writer
from sinks.client import connect
from sinks.stage import SinkStage
from sinks.writer import Sink
from streams.routing import RawMessage, route
from tests.factories import encode, make_event, mixed_events
from tests.fixtures.services import Topics
from tests.fixtures.tcp_proxy import TcpProxy
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration


def canonical(event: dict[str, Any]) -> bytes:
    """The event as the validation stage writes it to the canonical topic."""
    return route(RawMessage(encode(event), None, "raw", 0, 0, 0.0)).value


def produce(settings: Settings, values: list[bytes], *, partition: int | None = None) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    for value in values:
        key = (msgspec.json.decode(value).get("msisdn") or "").encode() or None
        producer.send(settings.topic_events, value, key=key, partition=partition)
    producer.flush()
    producer.close()


def counts(client: Client) -> tuple[int, int, int, int]:
    """Rows of ``events``, distinct ids, rows under ``FINAL``, and ``sum(events)``."""
    ((rows, ids),) = client.execute("SELECT count(), uniqExact(event_id) FROM events")
    ((final,),) = client.execute("SELECT count() FROM events FINAL")
    ((per_minute,),) = client.execute("SELECT sum(events) FROM events_per_minute")
    return rows, ids, final, per_minute


def run(stage: SinkStage, done: Callable[[], bool], timeout: float = 90) -> None:
    """Run ``stage`` until ``done()``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    asyncio.run(stage.run_until(lambda: time.monotonic() > deadline or done()))
    assert done(), f"gave up after {timeout:.0f} s: {stage.progress()}"


def started(settings: Settings) -> tuple[SinkStage, Sink]:
    """A sink's stage, and the sink it writes with."""
    stage = SinkStage(settings)
    return stage, stage.sink


def letters(client: Client) -> list[tuple[Any, ...]]:
    return client.execute(  # type: ignore[no-any-return]
        "SELECT reason_code, source_topic, source_partition, source_offset, message, payload "
        "FROM dead_letters ORDER BY source_offset"
    )


def test_a_row_the_server_refuses_is_dead_lettered_and_the_rest_land(
    settings: Settings, topics: Topics, clickhouse_db: str
) -> None:
    """The server computes a column's default from the row and refuses the one with a poison
    session (``throwIf``): that row is found by bisection, the others land."""
    migrations.migrate(settings)
    client = connect(settings)
    client.execute(
        "ALTER TABLE events ADD COLUMN guard UInt8 DEFAULT throwIf(session_id = 'poison')"
    )
    values = [canonical(e) for e in mixed_events(200)]
    poison = msgspec.json.decode(values[77])
    poison["session_id"] = "poison"
    values[77] = msgspec.json.encode(poison)
    produce(settings, values, partition=2)

    stage, sink = started(settings)
    run(stage, lambda: sink.progress()["events"]["unwritable"] == 1 and sink.buffered == 0)
    assert counts(client) == (199, 199, 199, 199)
    assert client.execute("SELECT count() FROM events WHERE session_id = 'poison'") == [(0,)]
    ((code, topic, partition, offset, message, payload),) = letters(client)
    assert (code, topic, partition, offset) == ("unwritable_row", settings.topic_events, 2, 77)
    assert "Value passed to 'throwIf' function is non zero" in message
    assert "Stack trace" not in message
    assert msgspec.json.decode(payload)["event_id"] == poison["event_id"]
    assert poison["msisdn"] not in payload


def test_values_past_a_narrowed_column_are_dead_lettered_and_the_rest_land(
    settings: Settings, topics: Topics, clickhouse_db: str
) -> None:
    """``kafka_offset`` altered to UInt8: the record at offset 256 cannot be written."""
    migrations.migrate(settings)
    client = connect(settings)
    client.execute("ALTER TABLE events MODIFY COLUMN kafka_offset UInt8")
    produce(settings, [canonical(e) for e in mixed_events(257)], partition=1)

    stage, sink = started(settings)
    run(stage, lambda: sink.progress()["events"]["unwritable"] == 1 and sink.buffered == 0)
    assert counts(client) == (256, 256, 256, 256)
    ((code, _, partition, offset, message, _),) = letters(client)
    assert (code, partition, offset) == ("unwritable_row", 1, 256)
    assert "ubyte format requires 0 <= number <= 255" in message


class Watched(SinkStage):
    """A sink's stage that notes the assignments it gets while its proxy is cut."""

    def __init__(self, settings: Settings, proxy: TcpProxy) -> None:
        super().__init__(settings)
        self.proxy = proxy
        self.assigned_while_cut = 0

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        if self.proxy.is_cut:
            self.assigned_while_cut += 1
        await super().on_assigned(assigned)


def test_clickhouse_gone_mid_run_with_partitions_reassigned_meanwhile_recovers_by_itself(
    settings: Settings, topics: Topics, clickhouse_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "RETRY_MAX_S", 2.0)
    migrations.migrate(settings)
    client = connect(settings)
    first = [canonical(e) for e in mixed_events(400)]
    second = [canonical(e) for e in mixed_events(400)]
    produce(settings, first)
    finished = threading.Event()

    with TcpProxy(settings.clickhouse_host, settings.clickhouse_port) as proxy:
        stage = Watched(settings.model_copy(update={"clickhouse_port": proxy.port}), proxy)
        sink = stage.sink

        def outage() -> None:
            try:
                wait_for(lambda: counts(client)[0] == 400, "the first 400 events")
                proxy.cut()
                produce(settings, second + first[:100])  # new events, and a replayed tail
                wait_for(lambda: sink._failures > 0, "the sink to find ClickHouse gone")
                # Another member joins the group and leaves: two rebalances, both in the dark.
                other = KafkaConsumer(
                    bootstrap_servers=settings.kafka_bootstrap,
                    group_id=f"{settings.group_prefix}-sink",
                    enable_auto_commit=False,
                    session_timeout_ms=settings.kafka_session_timeout_ms,
                    heartbeat_interval_ms=settings.kafka_session_timeout_ms // 6,
                )
                other.subscribe(list(sink.buffers))
                wait_for(lambda: other.poll(timeout_ms=200) is not None and other.assignment(),
                         "the other member's assignment", timeout=60)  # fmt: skip
                other.close(autocommit=False)
                wait_for(lambda: stage.assigned_while_cut >= 2, "the sink's reassignment")
                proxy.restore()
            finally:
                proxy.restore()
                finished.set()

        thread = threading.Thread(target=outage, daemon=True)
        thread.start()
        run(
            stage,
            lambda: finished.is_set() and counts(client)[0] >= 800 and not sink.pending,
            timeout=180,
        )
        thread.join(timeout=5)

    assert stage.assigned_while_cut >= 2
    assert counts(client) == (800, 800, 800, 800)
    assert letters(client) == []


def test_a_duplicate_after_the_memory_horizon_changes_no_table_and_no_aggregate(
    settings: Settings, topics: Topics, clickhouse_db: str
) -> None:
    """An event written, others written seconds later, the sink restarted with a one-second
    horizon (so its reloaded memory has forgotten the event), and the event sent again with
    another ingest time: it is found in ClickHouse and dropped."""
    settings = settings.model_copy(update={"sink_dedupe_horizon_seconds": 1.0})
    migrations.migrate(settings)
    client = connect(settings)
    late = make_event(
        "web.login", occurred_at=(datetime.now(UTC) - timedelta(hours=20)).isoformat()
    )
    produce(settings, [canonical(late)])
    stage, sink = started(settings)
    run(stage, lambda: counts(client)[0] == 1 and not sink.pending)
    time.sleep(2.5)  # the next rows are ingested more than the horizon after it
    produce(settings, [canonical(e) for e in mixed_events(20)])
    stage, sink = started(settings)
    run(stage, lambda: counts(client)[0] == 21 and not sink.pending)
    before = counts(client)

    produce(settings, [canonical(late)])
    stage, restarted = started(settings)
    seen = restarted.buffers[settings.topic_events]
    run(stage, lambda: seen.duplicates == 1 and not restarted.pending)
    assert late["event_id"] not in seen.recent  # not dropped from memory: looked up
    assert counts(client) == before == (21, 21, 21, 21)
    per_minute = client.execute(
        "SELECT minute, channel, event_type, sum(events) FROM events_per_minute FINAL "
        "GROUP BY minute, channel, event_type ORDER BY minute"
    )
    assert sum(n for *_, n in per_minute) == 21
