"""Every Kafka client channelhub opens, configured in one place.

Two libraries, each where it fits: aiokafka for the stages on the batched runtime (one event
loop, batches in flight), kafka-python for the blocking code (the producer and the collector
behind it, topic administration, readers that walk a topic to its end, the simulated
handsets). What one kind of client needs is set here once; a caller adds only what is its own
(a client id, its timeouts, its batching).
"""

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from kernel.settings import Settings

#: Per partition and fetch: room for the largest record a client may write (the raw topic
#: takes up to a few MiB), so no reader stalls on one.
MAX_PARTITION_FETCH_BYTES = 8 * 1024 * 1024


def _member_of(settings: Settings, group: str) -> dict[str, Any]:
    """What every member of one of our groups has, in either library: group
    ``<group_prefix>-<group>``, manual commits, the earliest offset for a new group, and a
    short session (fast joins on Tansu)."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": f"{settings.group_prefix}-{group}",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_session_timeout_ms // 6,
    }


# -- aiokafka: the stages ---------------------------------------------------------------------


def producer(settings: Settings) -> AIOKafkaProducer:
    """acks=all, small linger for batching. Idempotence is off: Tansu rejects aiokafka's
    InitProducerId, and duplicates from retries carry the same ids, which the sink collapses."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
    )


def consumer(settings: Settings, stage: str, *topics: str) -> AIOKafkaConsumer:
    """Group ``<group_prefix>-<stage>``, manual commits, short session (fast joins on Tansu).

    Range assignment, not aiokafka's round robin: with several topics of one partition count,
    every member gets the same partition numbers of each, which the nudge stage relies on to
    read ``campaigns.requests`` partition p beside ``channel.events`` partition p.
    """
    return AIOKafkaConsumer(
        *topics,
        **_member_of(settings, stage),
        max_partition_fetch_bytes=4 * 1024 * 1024,
        partition_assignment_strategy=(RangePartitionAssignor,),
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )


def async_reader(bootstrap: str) -> AIOKafkaConsumer:
    """Outside any group: it assigns partitions itself and commits nothing (a restore)."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=MAX_PARTITION_FETCH_BYTES,
    )


# -- kafka-python: the blocking code ----------------------------------------------------------


def idempotent_producer(bootstrap: str, client_id: str, **tuning: Any) -> KafkaProducer:
    """acks=all with idempotence: a retried batch is written once. ``tuning`` is the caller's
    own batching and timeouts (kafka-python's producer options)."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        **tuning,
    )


def group_consumer(settings: Settings, member_of: str) -> KafkaConsumer:
    """Group ``<group_prefix>-<member_of>``, manual commits, the stages' session timeout."""
    return KafkaConsumer(**_member_of(settings, member_of))


def reader(bootstrap: str, client_id: str, **tuning: Any) -> KafkaConsumer:
    """Outside any group: it assigns partitions itself and commits nothing."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_PARTITION_FETCH_BYTES,
        **tuning,
    )


def admin(bootstrap: str, client_id: str, timeout_ms: int = 5000) -> KafkaAdminClient:
    """Topic and group administration, giving up on an absent broker after ``timeout_ms``."""
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )
