"""The producer against a real broker: every event arrives, keyed, and failures are loud."""

import time
import uuid
from collections import Counter

import pytest
from kafka import KafkaConsumer, TopicPartition

from channelhub.ingest.producer import DeliveryError, Producer
from channelhub.platform.broker import ensure_topics
from tests.fixtures.services import Broker

pytestmark = pytest.mark.integration


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list:
    """Read ``expected`` records from every partition (manual assignment: no group join)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500, max_records=50_000).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


@pytest.fixture
def topic(broker: Broker) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}.producer"
    ensure_topics(broker.bootstrap, [name], 4)
    return name


def test_every_sent_event_arrives_with_its_key(broker: Broker, topic: str) -> None:
    sent = {f"138{i % 500:08d}".encode(): 0 for i in range(500)}
    with Producer(broker.bootstrap, topic) as producer:
        for i in range(20_000):
            key = f"138{i % 500:08d}".encode()
            producer.send(key, b'{"n": %d}' % i)
            sent[key] += 1
    assert producer.sent == 20_000
    assert producer.failed == 0

    records = consume_all(broker.bootstrap, topic, 20_000)
    assert len(records) == 20_000
    assert Counter(r.key for r in records) == Counter(sent)
    partitions_of_key: dict[bytes, set[int]] = {}
    for record in records:
        partitions_of_key.setdefault(record.key, set()).add(record.partition)
    assert all(len(p) == 1 for p in partitions_of_key.values())  # one subscriber, one partition


def test_an_event_the_client_refuses_raises_naming_the_topic(broker: Broker, topic: str) -> None:
    with Producer(broker.bootstrap, topic) as producer, pytest.raises(DeliveryError, match=topic):
        producer.send(b"k", b"x" * (8 * 1024 * 1024))  # over max_request_size


def test_throughput_is_reported(broker: Broker, topic: str, capsys: pytest.CaptureFixture) -> None:
    """Not a gate, a measurement: the report quotes it (bare kafka-python is ~36k/s here)."""
    payload = b'{"event_type":"ivr.call_started"' + b"x" * 280 + b"}"
    n = 100_000
    began = time.perf_counter()
    with Producer(broker.bootstrap, topic) as producer:
        for i in range(n):
            producer.send(b"%011d" % (13_800_000_000 + i % 10_000), payload)
    rate = n / (time.perf_counter() - began)
    with capsys.disabled():
        print(f"\nproducer: {rate:,.0f} events/s of {len(payload)} bytes, acknowledged")
    assert rate > 5_000
