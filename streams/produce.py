"""Producing a fold's records as record batches: one produce call per partition, not per record.

``AIOKafkaProducer.send`` costs tens of microseconds per record (a future, a partitioner
call, the accumulator's bookkeeping), which at 50,000 events/s is most of a core. A stage
already has a whole batch in hand, so it builds one Kafka record batch per partition
(``create_batch``/``send_batch``) and waits for one acknowledgement each. The broker appends a
record batch whole, so a changelog batch and its checkpoint land together or not at all.

Keyed records go where Kafka's default partitioner puts them (murmur2 of the key, positive,
modulo the partition count), so every consumer keyed by MSISDN finds a subscriber's records on
the partition it always did; records without a key are spread round robin.
"""

import asyncio
import itertools
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from kafka.partitioner.default import murmur2

Record = tuple[bytes | None, bytes | None]


async def send_records(
    producer: AIOKafkaProducer,
    topic: str,
    records: Iterable[Record],
    *,
    partition: int | None = None,
) -> list["asyncio.Future[object]"]:
    """Send ``(key, value)`` records to ``topic`` (all to ``partition`` if given), in order
    per partition; return one acknowledgement per record batch sent."""
    by_partition: dict[int, list[Record]] = {}
    if partition is not None:
        by_partition[partition] = list(records)
    else:
        count = len(await producer.partitions_for(topic))
        spread = itertools.cycle(range(count))
        for key, value in records:
            p = (murmur2(key) & 0x7FFFFFFF) % count if key is not None else next(spread)
            by_partition.setdefault(p, []).append((key, value))
    futures: list[asyncio.Future[object]] = []
    for p, batch_records in by_partition.items():
        batch = producer.create_batch()
        for key, value in batch_records:
            if batch.append(key=key, value=value, timestamp=None) is not None:
                continue
            # The batch is full (and closed): send it and start the next with this record.
            if batch.record_count():
                futures.append(await producer.send_batch(batch, topic, partition=p))
            batch = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                # Larger than a whole batch: send() gives it a batch of its own size.
                futures.append(await producer.send(topic, value, key, partition=p))
                batch = producer.create_batch()
        if batch.record_count():
            futures.append(await producer.send_batch(batch, topic, partition=p))
    return futures
