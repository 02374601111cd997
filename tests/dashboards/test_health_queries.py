"""Data-health queries against the real ClickHouse and the real broker, on known data.

Rows go into the migrated tables with the sink's own column lists; every expected number is
worked out here in Python from the rows the test wrote, never by the SQL under test.
"""

import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

from dashboards import db
from dashboards.queries import health as queries
from kernel.settings import Settings
from sinks.client import connect
from sinks.tables import dead_letters, events
from tests.fixtures.services import Broker, free_port

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def event_row(*, occurred: datetime, ingested: datetime, partition: int = 0) -> tuple[object, ...]:
    return (
        str(uuid.uuid4()), "ivr.call_started", "ivr", occurred, 0, "p", "s", "changsha",
        "mzone", "{}", 1, partition, 0, ingested,
    )  # fmt: skip


def dead_row(ident: str, reason: str, at: datetime, payload: str) -> tuple[object, ...]:
    return (
        ident, reason, f"{reason}-field", f"{reason} message", "raw", 0, 0, at, payload,
        len(payload), 0, 0, at,
    )  # fmt: skip


def insert(settings: Settings, statement: str, rows: list[tuple[object, ...]]) -> None:
    client = connect(settings)
    try:
        client.execute(statement.format(db=settings.clickhouse_database), rows)
    finally:
        client.disconnect()


def test_events_per_second_counts_what_was_written_in_the_last_minute(
    migrated: Settings,
) -> None:
    ingested = [NOW - timedelta(seconds=s) for s in (1, 5, 5, 30, 59, 60, 61, 600)]
    ingested.append(NOW)  # the current second is not over: not counted
    insert(
        migrated,
        events.TABLE.insert,
        [event_row(occurred=NOW - timedelta(days=3), ingested=at) for at in ingested],
    )
    inside = [at for at in ingested if NOW - timedelta(seconds=60) <= at < NOW]

    with db.client(migrated) as client:
        rate = queries.events_per_second(client, NOW + timedelta(microseconds=500))

    assert rate == pytest.approx(len(inside) / 60)


def test_dead_letters_by_reason_with_the_newest_example_and_duplicates_collapsed(
    migrated: Settings,
) -> None:
    rows = [
        dead_row("a", "schema", NOW - timedelta(minutes=5), '{"msisdn": "138****0000", "n": 1}'),
        dead_row("b", "schema", NOW - timedelta(minutes=1), '{"msisdn": "138****0001", "n": 2}'),
        dead_row("b", "schema", NOW - timedelta(minutes=1), '{"msisdn": "138****0001", "n": 2}'),
        dead_row("c", "json", NOW - timedelta(minutes=2), "not json " + "x" * 500),
        dead_row("d", "schema", NOW - timedelta(days=2), '{"too": "old"}'),
    ]
    insert(migrated, dead_letters.TABLE.insert, rows)
    since = NOW - timedelta(days=1)
    unique = {r[0]: r for r in rows if r[7] >= since}  # type: ignore[operator]
    expected = Counter(str(r[1]) for r in unique.values())

    with db.client(migrated) as client:
        reasons = queries.dead_letters(client, since)

    assert [(r.reason_code, r.count) for r in reasons] == expected.most_common()
    schema = reasons[0]
    assert schema.example == '{"msisdn": "138****0001", "n": 2}'
    assert schema.newest_at == NOW - timedelta(minutes=1)
    assert (schema.field, schema.message) == ("schema-field", "schema message")
    assert reasons[1].example == ("not json " + "x" * 500)[: queries.EXAMPLE_CHARS]


def test_completeness_is_the_minute_before_the_slowest_partitions_newest(
    migrated: Settings,
) -> None:
    newest = {
        0: NOW - timedelta(minutes=2, seconds=10),
        1: NOW - timedelta(minutes=7, seconds=40),
        2: NOW - timedelta(seconds=5),
    }
    rows = [
        event_row(occurred=at - timedelta(minutes=back), ingested=NOW, partition=p)
        for p, at in newest.items()
        for back in (0, 3, 30)
    ]
    insert(migrated, events.TABLE.insert, rows)
    slowest = min(newest.values())
    expected = slowest.replace(second=0) - timedelta(minutes=1)

    with db.client(migrated) as client:
        three = queries.completeness(client, 3, NOW)
        four = queries.completeness(client, 4, NOW)

    assert three == queries.Completeness(complete_through=expected, missing_partitions=())
    assert four == queries.Completeness(complete_through=None, missing_partitions=(3,))


def test_consumer_lag_is_end_minus_committed_per_group(broker: Broker) -> None:
    topic = f"t_{uuid.uuid4().hex[:12]}.lag"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    admin.close()
    produced = {0: 7, 1: 4}
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for partition, n in produced.items():
        for i in range(n):  # one send at a time: one record per batch, exact end offsets
            producer.send(topic, value=b"%d" % i, partition=partition).get(timeout=10)
    producer.close()
    committed = {0: 5, 1: 4}
    group = f"{topic}-group"
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group)
    consumer.commit(
        {TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in committed.items()}
    )
    consumer.close()
    expected = sum(produced[p] - committed[p] for p in produced)

    lag = queries.consumer_lag(broker.bootstrap, [group, f"{topic}-never-started"])

    assert lag == {group: expected, f"{topic}-never-started": None}


def test_consumer_lag_is_unknown_quickly_when_the_broker_does_not_answer() -> None:
    started = time.monotonic()
    lag = queries.consumer_lag(f"127.0.0.1:{free_port()}", ["a", "b"], timeout_ms=500)
    assert lag == {"a": None, "b": None}
    assert time.monotonic() - started < 5
