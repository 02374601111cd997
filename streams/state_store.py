"""The nudge stage's changelog: how partition state is written and read back after a restart.

Changelog partition ``p`` holds the state of events partition ``p`` (records are produced to
the explicit partition, never through a partitioner). Per processed batch and partition the
stage writes one Kafka record batch (:mod:`streams.produce`) of MessagePack records: each
changed subscriber's state keyed by MSISDN (the bytes :mod:`streams.nudge_state` already holds)
or a tombstone for an evicted one, each opt-out recorded (key ``\x01`` + MSISDN, never
tombstoned), then one :class:`Checkpoint` with the partition's next events offset, watermark,
token bucket and rate queue. Keyed so, the topic compacts to one record per subscriber and
opt-out. A restore applies subscriber records only when the checkpoint after them is read:
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
import logging
import time
import uuid
from datetime import datetime

import msgspec
from aiokafka import AIOKafkaProducer, TopicPartition

from kernel import kafka
from orchestration.guardrails import TokenBucket
from orchestration.guardrails.budget import BudgetState
from streams.nudge_state import (
    OptOuts,
    PartitionNudges,
    decode_opt_outs,
    encode_opt_outs,
)

log = logging.getLogger(__name__)

#: How long a restore may take before it gives up with an error (the worker then restarts).
RESTORE_TIMEOUT_S = 120.0


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    next_offset: int
    watermark_ms: int
    gateway: TokenBucket
    rate_queue: datetime
    budgets: dict[str, BudgetState] = {}


class Probe(msgspec.Struct, frozen=True):
    """Written at restore to learn the exact end of the partition; ignored when read."""

    token: str


encode = msgspec.msgpack.Encoder().encode
_decode_checkpoint = msgspec.msgpack.Decoder(Checkpoint).decode
#: Keys of the records that are not a subscriber's (an MSISDN never starts with a control
#: character).
CHECKPOINT_KEY = b"\x00checkpoint"
PROBE_KEY = b"\x00probe"
OPT_OUT_PREFIX = b"\x01"

Record = tuple[bytes, bytes | None]


def changelog(part: PartitionNudges) -> list[Record]:
    """The (key, value) records of one processed batch: the changed and evicted subscribers
    (their encoded states, or a tombstone), the opt-outs recorded, then the checkpoint that
    makes them count. Flushes the batch's changes into the partition's store."""
    records = part.subscribers.flush()
    for msisdn in sorted(part.opt_outs_changed):
        records.append((OPT_OUT_PREFIX + msisdn.encode(), encode_opt_outs(part.opt_outs[msisdn])))
    part.opt_outs_changed.clear()
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
    """Applies one partition's changelog records, committing at each checkpoint.

    A subscriber's record is kept as the bytes it was written as (nothing is decoded until
    :meth:`finish` indexes the held requests and open goals).
    """

    def __init__(self) -> None:
        self.state = PartitionNudges()
        self._staged: dict[str, bytes | None] = {}
        self._staged_opt_outs: dict[str, OptOuts] = {}
        #: Records that did not decode (written by another version), skipped.
        self.unreadable = 0

    def read(self, key: bytes | None, value: bytes | None) -> None:
        if not key:
            return
        try:
            if key == CHECKPOINT_KEY:
                if value is not None:
                    self._checkpoint(_decode_checkpoint(value))
            elif key.startswith(OPT_OUT_PREFIX):
                if value is not None:
                    self._staged_opt_outs[key[1:].decode()] = decode_opt_outs(value)
            elif key != PROBE_KEY:
                self._staged[key.decode()] = value
        except (msgspec.DecodeError, UnicodeDecodeError):
            self.unreadable += 1

    def _checkpoint(self, record: Checkpoint) -> None:
        encoded = self.state.subscribers.encoded
        for msisdn, value in self._staged.items():
            if value is None:
                encoded.pop(msisdn, None)
            else:
                encoded[msisdn] = value
        self.state.opt_outs.update(self._staged_opt_outs)
        self._staged.clear()
        self._staged_opt_outs.clear()
        self.state.next_offset = record.next_offset
        self.state.watermark_ms = record.watermark_ms
        self.state.gateway = record.gateway
        self.state.rate_queue = record.rate_queue
        self.state.budgets = dict(record.budgets)

    def finish(self) -> PartitionNudges:
        """The state as of the last checkpoint; an unfinished batch's records are dropped."""
        self._staged.clear()
        self._staged_opt_outs.clear()
        self.unreadable += self.state.index_held()
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
                        replays[tp.partition].read(r.key, r.value)
                    else:
                        waiting.discard(tp.partition)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    restored = {p: replay.finish() for p, replay in replays.items()}
    for p, replay in replays.items():
        if replay.unreadable:
            log.warning(
                "restoring %s partition %d: %d records this version cannot read were skipped "
                "(a changelog written by another version; those subscribers start afresh)",
                topic, p, replay.unreadable,
            )  # fmt: skip
    return restored
