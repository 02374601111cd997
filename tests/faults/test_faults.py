"""The fault suite: poison, kills, rebalances, replays and late duplicates on the real broker,
ClickHouse and stage processes, each ending in exact counts (:mod:`tests.faults.pipeline`).

Nothing here sleeps to prove that nothing more arrives: each scenario waits until every stage
has committed everything, upstream first, and only then counts.
"""

import os
import random
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from channelhub.platform.health import http_ok
from channelhub.settings import Settings
from channelhub.simulator.engine import Emitted
from tests.faults.pipeline import (
    Pipeline,
    assert_exact,
    expected_decisions,
    poison,
    produce,
    simulated_day,
)
from tests.fixtures.services import ClickHouseServer, StartService, Topics
from tests.fixtures.waiting import end_offsets, wait_for

pytestmark = pytest.mark.integration

POISON_SHARE = 0.02


def _mixed(emitted: list[Emitted], seed: int) -> tuple[list[tuple[bytes | None, bytes]], int, int]:
    """Valid events with 2% poison of every kind shuffled in, in the events' order."""
    events = len(emitted)
    bad = poison(int(events * POISON_SHARE))
    records: list[tuple[bytes | None, bytes]] = [(e.key, e.payload) for e in emitted]
    rng = random.Random(seed)
    for value in bad:
        records.insert(rng.randrange(len(records) + 1), (None, value))
    return records, len(emitted), len(bad)


def _in_background(
    settings: Settings, records: list[tuple[bytes | None, bytes]], rate: float
) -> threading.Thread:
    """Produce ``records`` at about ``rate`` per second in a thread, so faults hit mid-run."""

    def paced() -> Iterator[tuple[bytes | None, bytes]]:
        started = time.monotonic()
        for i, record in enumerate(records):
            if i % 1000 == 0:
                ahead = i / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            yield record

    thread = threading.Thread(target=produce, args=(settings, paced()), daemon=True)
    thread.start()
    return thread


def test_sigkill_of_every_stage_three_times_loses_and_doubles_nothing(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    """a. 100k events with 2% poison; validate, nudges and sink each SIGKILLed three times
    at random moments while the events arrive."""
    emitted = simulated_day(100_000, seed=31)
    records, valid, bad = _mixed(emitted, seed=31)
    decisions = expected_decisions(emitted, settings)
    pipeline = Pipeline(settings, start_service)
    rng = random.Random(31)
    producer = _in_background(settings, records, rate=2500)
    kills = [stage for stage in ("validate", "nudges", "sink") for _ in range(3)]
    rng.shuffle(kills)
    for stage in kills:
        time.sleep(rng.uniform(0.5, 3.0))
        pipeline.kill(stage)
    producer.join(timeout=300)
    assert not producer.is_alive()
    assert_exact(pipeline.drain(), valid, bad, decisions)
    assert pipeline.revived == []


def test_poison_then_a_replay_of_the_raw_topic_changes_nothing(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    """e. poison of every kind written straight to the raw topic by a foreign client;
    f. the validation group reset to the earliest offset, everything routed again."""
    emitted = simulated_day(20_000, seed=32)
    records, valid, bad = _mixed(emitted, seed=32)
    decisions = expected_decisions(emitted, settings)
    pipeline = Pipeline(settings, start_service)
    assert produce(settings, records) == valid + bad
    first = pipeline.drain()
    assert_exact(first, valid, bad, decisions)

    pipeline.remove("validate")
    _reset_to_earliest(settings, f"{settings.group_prefix}-validate", settings.topic_raw)
    pipeline.add("validate")
    assert pipeline.drain() == first
    routed = end_offsets(settings.kafka_bootstrap, [settings.topic_events, settings.topic_dlq])
    assert sum(routed.values()) == 2 * (valid + bad), "the raw topic was not routed again"


def _reset_to_earliest(settings: Settings, group: str, topic: str) -> None:
    """Commit offset 0 for every partition of ``topic`` as a member of ``group``.

    The admin API's reset is refused while the broker still counts a member, and Tansu keeps
    counting the stage that left; a member of the group's own may always commit.
    """
    member = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=settings.kafka_session_timeout_ms,
    )
    try:
        wanted = {TopicPartition(topic, p) for p in range(settings.topic_partitions)}

        def assigned() -> bool:
            member.poll(timeout_ms=200, max_records=1)
            return member.assignment() == wanted

        wait_for(assigned, f"every partition of {topic} assigned to the reset", timeout=60)
        member.commit({tp: OffsetAndMetadata(0, "", -1) for tp in wanted})
    finally:
        member.close(autocommit=False)


def test_validation_and_nudges_going_one_two_one_workers_during_traffic(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    """c. a second validation and a second nudge worker join mid-run, then leave."""
    emitted = simulated_day(40_000, seed=33)
    records, valid, bad = _mixed(emitted, seed=33)
    decisions = expected_decisions(emitted, settings)
    pipeline = Pipeline(settings, start_service)
    producer = _in_background(settings, records, rate=2500)
    time.sleep(2)
    pipeline.add("validate")
    pipeline.add("nudges")
    time.sleep(3)
    pipeline.remove("validate")
    pipeline.remove("nudges")
    producer.join(timeout=300)
    assert not producer.is_alive()
    assert_exact(pipeline.drain(), valid, bad, decisions)
    assert pipeline.revived == []


def test_a_late_duplicate_changes_no_table_and_no_aggregate(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    """g. events sent again after the sink's dedupe memory has forgotten them (a memory of
    100 ids, and the sink restarted in between): no count moves."""
    settings = settings.model_copy(update={"sink_dedupe_window": 100})
    emitted = simulated_day(5_000, seed=34)
    decisions = expected_decisions(emitted, settings)
    pipeline = Pipeline(settings, start_service)
    produce(settings, [(e.key, e.payload) for e in emitted])
    before = pipeline.drain()
    assert_exact(before, len(emitted), 0, decisions)

    pipeline.kill("sink")
    assert produce(settings, [(e.key, e.payload) for e in emitted[::5]]) == 1_000
    assert pipeline.drain() == before


def test_clickhouse_down_for_30_seconds_with_the_sink_restarted_meanwhile(
    settings: Settings,
    topics: Topics,
    clickhouse_db: str,
    start_service: StartService,
    clickhouse_server: ClickHouseServer,
) -> None:
    """b. ClickHouse stopped for 30 s mid-run; the sink SIGKILLed and started again while it
    is down, so it is assigned its partitions during the outage."""
    emitted = simulated_day(40_000, seed=35)
    records, valid, bad = _mixed(emitted, seed=35)
    decisions = expected_decisions(emitted, settings)
    pipeline = Pipeline(settings, start_service)
    producer = _in_background(settings, records, rate=2500)
    time.sleep(3)
    server = clickhouse_server.process
    server.stop()
    try:
        down_since = time.monotonic()
        time.sleep(10)
        pipeline.kill("sink")
        time.sleep(max(0.0, 30 - (time.monotonic() - down_since)))
    finally:
        server.start()
        server.wait_healthy()
    producer.join(timeout=300)
    assert not producer.is_alive()
    pipeline.client.disconnect()
    assert_exact(pipeline.drain(), valid, bad, decisions)
    assert pipeline.revived == []


def test_sigkill_of_the_collector_three_times_while_channel_systems_post(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    """a. (collector) channel systems post 1k-event NDJSON batches and send a batch again
    until it is answered 200, as the collector's API asks; the collector is SIGKILLed three
    times meanwhile. Every event lands once."""
    emitted = simulated_day(20_000, seed=36)
    decisions = expected_decisions(emitted, settings)
    pipeline = Pipeline(settings, start_service)
    collector = start_service(
        "collector", "channelhub.ingest.collector", settings,
        health=http_ok(f"{settings.collector_url}/health"),
    )  # fmt: skip
    batches = [emitted[i : i + 1000] for i in range(0, len(emitted), 1000)]
    refused: list[str] = []

    def post_all() -> None:
        with httpx.Client(
            base_url=settings.collector_url,
            headers={
                "Authorization": f"Bearer {settings.collector_token.get_secret_value()}",
                "Content-Type": "application/x-ndjson",
            },
            timeout=30,
        ) as client:
            for batch in batches:
                body = b"\n".join(e.payload for e in batch)
                while True:
                    try:
                        if client.post("/v1/events", content=body).status_code == 200:
                            break
                    except httpx.TransportError as e:
                        refused.append(type(e).__name__)
                    time.sleep(0.2)

    poster = threading.Thread(target=post_all, daemon=True)
    poster.start()
    rng = random.Random(36)
    for _ in range(3):
        time.sleep(rng.uniform(0.5, 2.0))
        assert collector.pid is not None
        os.killpg(collector.pid, signal.SIGKILL)
        assert collector.wait(timeout=10) == -signal.SIGKILL
        collector.start()
        collector.wait_healthy()
    poster.join(timeout=300)
    assert not poster.is_alive()
    assert_exact(pipeline.drain(), len(emitted), 0, decisions)
    print(f"requests the clients had to send again: {len(refused)}")
