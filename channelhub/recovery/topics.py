"""Reading topics to their end, exactly, on Tansu as on Apache Kafka.

Tansu reports a partition's high watermark as the first offset of its newest record batch + 1,
so "read until the high watermark" would stop inside the last batch. The exact end is the
offset after the last record of that batch: fetch from ``high - 1`` and look. On Apache Kafka
the fetch returns nothing past the high watermark and the answer is the same.
"""

import time
from collections.abc import Iterable, Iterator

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from kernel import kafka
from kernel.errors import ServiceError

#: How long one partition may go without a record before the broker is taken for gone.
STALL_SECONDS = 30.0
LIST_ATTEMPTS = 5


def consumer(bootstrap: str, client_id: str) -> KafkaConsumer:
    """A consumer outside any group: it assigns partitions itself and commits nothing."""
    try:
        return kafka.reader(bootstrap, client_id)
    except KafkaError as e:
        raise ServiceError(f"cannot reach the broker at {bootstrap}: {e}") from e


def partitions(reader: KafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of ``topics``; a topic the broker does not have is an error."""
    found: list[TopicPartition] = []
    for topic in topics:
        numbers = reader.partitions_for_topic(topic)
        if not numbers:
            raise ServiceError(f"topic {topic!r} does not exist on the broker")
        found.extend(TopicPartition(topic, p) for p in sorted(numbers))
    return found


def listed_offsets(
    reader: KafkaConsumer, tps: list[TopicPartition], *, earliest: bool
) -> dict[TopicPartition, int]:
    """The broker's first (``earliest``) or high-watermark offsets of ``tps``.

    kafka-python 3.0 raises ``KeyError`` when a ListOffsets answer leaves a partition out,
    which Tansu does now and then under load; asked again, it answers.
    """
    lookup = reader.beginning_offsets if earliest else reader.end_offsets
    attempt = 1
    while True:
        try:
            return dict(lookup(tps))
        except KeyError as e:
            if attempt == LIST_ATTEMPTS:
                raise ServiceError("the broker did not list every partition's offsets") from e
        time.sleep(0.2 * attempt)
        attempt += 1


def end_offsets(reader: KafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The offset after the last record of each partition now (see the module docstring)."""
    reported = listed_offsets(reader, tps, earliest=False)
    exact: dict[TopicPartition, int] = {}
    for tp in tps:
        high = reported[tp]
        if high == 0:
            exact[tp] = 0
            continue
        reader.assign([tp])
        reader.seek(tp, high - 1)
        last: int | None = None
        deadline = time.monotonic() + STALL_SECONDS
        while time.monotonic() < deadline:
            records = reader.poll(timeout_ms=200, max_records=100_000).get(tp, [])
            if records:
                last = records[-1].offset
            elif last is not None:
                break  # the batch at high - 1 is read whole; nothing after it yet
        exact[tp] = high if last is None else last + 1
    return exact


def read_to_end(reader: KafkaConsumer, ends: dict[TopicPartition, int]) -> Iterator[ConsumerRecord]:
    """Every record from the start of each partition up to (not including) ``ends``."""
    starts = listed_offsets(reader, list(ends), earliest=True)
    todo = {tp for tp, end in ends.items() if end > starts[tp]}
    if not todo:
        return
    reader.assign(list(todo))
    reader.seek_to_beginning(*todo)
    last_progress = time.monotonic()
    while todo:
        fetched = reader.poll(timeout_ms=500, max_records=10_000)
        for tp, records in fetched.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
            last_progress = time.monotonic()
        for tp in list(todo):
            if reader.position(tp) >= ends[tp]:
                todo.discard(tp)
                reader.pause(tp)
        if todo and time.monotonic() - last_progress > STALL_SECONDS:
            waiting = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(todo))
            raise ServiceError(f"the broker sent nothing for {STALL_SECONDS:.0f} s; {waiting}")
