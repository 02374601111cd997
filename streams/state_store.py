"""The nudge stage's changelog: how partition state is written and read back after a restart.

Changelog partition ``p`` holds the state of events partition ``p`` (records are produced to
the explicit partition, never through a partitioner). Per processed batch and partition the
stage writes one :class:`SubscriberRecord` per changed subscriber, then one
:class:`Checkpoint` with the partition's next events offset, watermark, token bucket and rate
queue. A restore applies subscriber records only when the checkpoint after them is read:
records after the last checkpoint belong to a batch that never completed, which the stage
reprocesses from the checkpoint's offset, so state and offsets always move together.

Reading "to the end": Tansu's high watermark is the first offset of the last record *batch*
plus one, so it cannot say when the log is read. :func:`restore` instead produces a
:class:`Probe` to each partition and reads until it sees that probe's offset, which the
broker's acknowledgement gave exactly. With a compacted changelog (production), set
``min.compaction.lag.ms`` well above a batch's duration so compaction never drops a
checkpointed record in favour of an unfinished batch's record.
"""

import asyncio
import time
import uuid
from collections.abc import Iterable
from datetime import datetime

import msgspec
from aiokafka import AIOKafkaProducer, TopicPartition

from kernel import kafka
from orchestration.guardrails import TokenBucket
from orchestration.guardrails.budget import BudgetState
from streams.nudge_core import PartitionNudges, SubscriberNudges

#: How long a restore may take before it gives up with an error (the worker then restarts).
RESTORE_TIMEOUT_S = 120.0


class SubscriberRecord(msgspec.Struct, frozen=True, tag="subscriber"):
    msisdn: str
    state: SubscriberNudges


class Checkpoint(msgspec.Struct, frozen=True, tag="checkpoint"):
    next_offset: int
    watermark_ms: int
    gateway: TokenBucket
    rate_queue: datetime
    budgets: dict[str, BudgetState] = {}


class Probe(msgspec.Struct, frozen=True, tag="probe"):
    """Written at restore to learn the exact end of the partition; ignored when read."""

    token: str


ChangeRecord = SubscriberRecord | Checkpoint | Probe

_decode = msgspec.json.Decoder(ChangeRecord).decode
encode = msgspec.json.Encoder().encode
CHECKPOINT_KEY = b"\x00checkpoint"
PROBE_KEY = b"\x00probe"


def changelog(part: PartitionNudges, changed: Iterable[str]) -> list[tuple[bytes, bytes]]:
    """The (key, value) records of one processed batch: changed subscribers, then the
    checkpoint that makes them count."""
    records = [
        (msisdn.encode(), encode(SubscriberRecord(msisdn, part.subscribers[msisdn])))
        for msisdn in sorted(changed)
    ]
    checkpoint = Checkpoint(
        next_offset=part.next_offset,
        watermark_ms=part.watermark_ms,
        gateway=part.gateway,
        rate_queue=part.rate_queue,
        budgets=part.budgets,
    )
    records.append((CHECKPOINT_KEY, encode(checkpoint)))
    return records


class Replay:
    """Applies one partition's changelog records, committing at each checkpoint."""

    def __init__(self) -> None:
        self.state = PartitionNudges()
        self._staged: dict[str, SubscriberNudges] = {}

    def read(self, value: bytes) -> None:
        record = _decode(value)
        if isinstance(record, SubscriberRecord):
            self._staged[record.msisdn] = record.state
        elif isinstance(record, Checkpoint):
            self.state.subscribers.update(self._staged)
            self._staged.clear()
            self.state.next_offset = record.next_offset
            self.state.watermark_ms = record.watermark_ms
            self.state.gateway = record.gateway
            self.state.rate_queue = record.rate_queue
            self.state.budgets = dict(record.budgets)

    def finish(self) -> PartitionNudges:
        """The state as of the last checkpoint; an unfinished batch's records are dropped."""
        self._staged.clear()
        self.state.index_held()
        return self.state


async def restore(
    bootstrap: str, topic: str, partitions: list[int], producer: AIOKafkaProducer
) -> dict[int, PartitionNudges]:
    """Read the changelog partitions to their end and return each partition's state."""
    probe = encode(Probe(token=uuid.uuid4().hex))
    sent = [await producer.send(topic, probe, PROBE_KEY, partition=p) for p in partitions]
    ends = {p: (await s).offset for p, s in zip(partitions, sent, strict=True)}
    replays = {p: Replay() for p in partitions}
    consumer = kafka.async_reader(bootstrap)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + RESTORE_TIMEOUT_S
        waiting = set(partitions)
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"restoring {topic} partitions {sorted(waiting)}: the probe records were "
                    f"not read back within {RESTORE_TIMEOUT_S:.0f}s"
                )
            fetched = await consumer.getmany(timeout_ms=500, max_records=50_000)
            for tp, records in fetched.items():
                for r in records:
                    if r.offset < ends[tp.partition]:
                        replays[tp.partition].read(r.value)
                    else:
                        waiting.discard(tp.partition)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return {p: replay.finish() for p, replay in replays.items()}
