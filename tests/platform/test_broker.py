"""The local Tansu broker: health, idempotent topic creation, and a produce/consume round trip."""

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from channelhub.platform import broker as tansu
from channelhub.platform.process import ManagedProcess
from tests.fixtures.services import Broker, Topics, free_port

pytestmark = pytest.mark.integration


def test_probe_passes_on_the_session_broker(broker: Broker) -> None:
    tansu.probe(broker.bootstrap)


def test_ensure_topics_is_idempotent(broker: Broker, topics: Topics) -> None:
    assert tansu.ensure_topics(broker.bootstrap, topics.names, 4) == []
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        described = {t["name"]: t for t in admin.describe_topics(topics.names)}
    finally:
        admin.close()
    assert set(described) == set(topics.names)
    assert all(len(t["partitions"]) == 4 for t in described.values())


def test_ensure_topics_creates_only_the_missing_ones(broker: Broker, topics: Topics) -> None:
    extra = f"{topics.raw}.extra"
    assert tansu.ensure_topics(broker.bootstrap, [topics.raw, extra], 2) == [extra]


def test_produce_and_consume_round_trip(broker: Broker, topics: Topics) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(20)}
    for key, value in sent.items():
        producer.send(topics.raw, key=key, value=value)
    producer.flush(timeout=10)
    producer.close()

    # assign() rather than a group: group joins on Tansu are slow and not what is tested here.
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    consumer.assign([TopicPartition(topics.raw, p) for p in range(4)])
    received: dict[bytes, bytes] = {}
    deadline = time.monotonic() + 20
    while len(received) < len(sent) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            received.update((r.key, r.value) for r in records)
    consumer.close()
    assert received == sent


def test_stopping_the_broker_leaves_no_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bootstrap = f"127.0.0.1:{free_port()}"
    with ManagedProcess(tansu.spec(bootstrap), tmp_path) as process:
        tansu.probe(bootstrap)
        pid = process.pid
    assert pid is not None
    assert not process.running
    assert not (tmp_path / "run" / "broker.pid").exists()
