"""The sink's stage without a broker: when it writes and commits, and how it pauses, forgets
and resumes while ClickHouse is unavailable (a fake ClickHouse and a fake consumer)."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import TopicPartition

from kernel.settings import Settings
from sinks import writer
from sinks.stage import SinkStage
from sinks.writer import Sink
from streams.routing import RawMessage, route
from tests.factories import encode, make_event
from tests.sinks.fakes import FakeClickHouse, FakeConsumer, Record, stamp, unit_settings

#: Every record added makes a flush due: the tests need no clock.
SETTINGS = unit_settings(sink_batch_size=1)
TOPIC = SETTINGS.topic_events
TP = TopicPartition(TOPIC, 0)


def batch(n: int, first_offset: int = 0) -> dict[TopicPartition, list[Record]]:
    at = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
    now = stamp(datetime.now(UTC))
    values = [
        route(
            RawMessage(encode(make_event("web.login", occurred_at=at)), None, "raw", 0, 0, 0.0)
        ).value
        for _ in range(n)
    ]
    return {TP: [Record(TOPIC, 0, first_offset + i, now, v) for i, v in enumerate(values)]}


def scenario(
    test: Callable[[SinkStage, FakeConsumer, FakeClickHouse], Awaitable[None]],
    settings: Settings = SETTINGS,
) -> None:
    """Run ``test`` on a stage with partition 0 of every topic assigned."""
    client = FakeClickHouse(settings)
    stage = SinkStage(settings, sink=Sink(settings, client=client))
    consumer = FakeConsumer({TopicPartition(t, 0) for t in stage.topics()})
    stage._consumer = consumer  # type: ignore[assignment]

    async def run() -> None:
        await stage.on_assigned(consumer.assignment())
        await test(stage, consumer, client)

    asyncio.run(run())


def test_a_written_batch_hands_its_offsets_to_commit_with_nothing_to_wait_for() -> None:
    async def test(stage: SinkStage, consumer: FakeConsumer, client: FakeClickHouse) -> None:
        acks, offsets = await stage.fold(batch(3))
        assert (acks, offsets) == ([], {TP: 3})
        assert len(client.tables["events"]) == 3

    scenario(test)


def test_an_outage_pauses_reading_and_a_landed_retry_resumes_and_commits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer, "RETRY_FIRST_S", 0.0)

    async def test(stage: SinkStage, consumer: FakeConsumer, client: FakeClickHouse) -> None:
        client.down = True
        assert await stage.fold(batch(2)) == ([], {})
        assert consumer.paused() == consumer.assignment()
        await stage.on_assigned(consumer.assignment())  # assigned during the outage: paused
        assert consumer.paused() == consumer.assignment()
        client.down = False
        await stage.between_batches()
        await stage._in_flight.drain()
        assert consumer.paused() == set()
        assert consumer.commits == [{TP: 2}]
        assert len(client.tables["events"]) == 2

    scenario(test)


def test_partitions_revoked_during_an_outage_are_forgotten_uncommitted() -> None:
    """aiokafka reads a partition assigned again from its committed offset: nothing to seek."""

    async def test(stage: SinkStage, consumer: FakeConsumer, client: FakeClickHouse) -> None:
        await stage.fold(batch(2))
        client.down = True
        await stage.fold(batch(3, first_offset=2))
        await stage.on_revoked(consumer.assignment())
        assert (stage.sink.buffered, stage.sink.pending, consumer.commits) == (0, {}, [])

    scenario(test)


def test_partitions_revoked_while_clickhouse_answers_are_written_and_committed_first() -> None:
    async def test(stage: SinkStage, consumer: FakeConsumer, client: FakeClickHouse) -> None:
        stage.sink.add(batch(4))  # held, not yet due for the stage
        await stage.on_revoked(consumer.assignment())
        assert consumer.commits == [{TP: 4}]
        assert len(client.tables["events"]) == 4

    scenario(test)


def test_a_stage_behind_holds_its_rows_for_a_full_batch_and_writes_once_caught_up() -> None:
    async def test(stage: SinkStage, consumer: FakeConsumer, client: FakeClickHouse) -> None:
        consumer.ends = {tp: 0 for tp in consumer.assignment()}
        consumer.ends[TP], consumer.positions[TP] = 100, 3  # 97 more to read
        assert await stage.fold(batch(3)) == ([], {})
        stage.sink._last_flush -= 1.0  # past the 0.5 s timer, not the 5 s catch-up
        await stage.between_batches()  # behind: still held
        assert client.tables["events"] == []
        assert consumer.commits == []
        consumer.positions[TP] = 100  # caught up
        await stage.between_batches()
        await stage._in_flight.drain()
        assert len(client.tables["events"]) == 3
        assert consumer.commits == [{TP: 3}]

    scenario(test, unit_settings(sink_batch_size=10))
