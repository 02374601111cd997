"""What the dispatcher left behind, read back exactly: its ``nudges.dispatches`` records and
the part number of each ``submit_sm`` the test SMSC logged."""

from typing import Any

import msgspec
from kafka import KafkaConsumer

from kernel.settings import Settings
from schemas.nudges import Dispatch
from tests.fixtures.waiting import end_offsets, wait_for


def dispatches(settings: Settings) -> list[Dispatch]:
    """Every record of ``nudges.dispatches``, read up to the exact end of each partition."""
    ends = end_offsets(settings.kafka_bootstrap, [settings.topic_nudges_dispatches])
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )  # fmt: skip
    try:
        consumer.assign(list(ends))
        consumer.seek_to_beginning()
        values: list[bytes] = []

        def read_to_the_end() -> bool:
            values.extend(r.value for rs in consumer.poll(200).values() for r in rs)
            return all(consumer.position(tp) >= end for tp, end in ends.items())

        wait_for(read_to_the_end, "every dispatch record", timeout=30, every=0)
    finally:
        consumer.close()
    decoder = msgspec.json.Decoder(Dispatch)
    return [decoder.decode(value) for value in values]


def part(submit: dict[str, Any]) -> int:
    """The part number of a logged submit_sm: the UDH's last octet, 1 without a UDH."""
    udh: str = submit["udh"]
    return int(udh[-2:], 16) if udh else 1
