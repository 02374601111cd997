"""The aiokafka clients every batched stage uses, configured in one place."""

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from kernel.settings import Settings


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
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.group_prefix}-{stage}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_session_timeout_ms // 6,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        partition_assignment_strategy=(RangePartitionAssignor,),
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )
