"""The validation stage: raw topic → canonical topic or dead-letter topic, in batches.

faust delivers each message through its own stream machinery at about 130 µs of scheduling
per event, which caps a worker below 9k events/s before any work is done. Validation is a
stateless map where faust adds nothing, so this stage is a plain batched aiokafka loop that
runs inside the faust worker (as a service beside the app): fetch a batch, route every message
with :func:`streams.routing.route`, produce, and commit the batch's offsets once the broker
has acknowledged all of it (while the next batch is routed, :mod:`streams.acks`).
At-least-once: after a crash the uncommitted tail is routed again with the same event ids and
dead-letter ids, which the ClickHouse sink collapses.
"""

import logging
import time
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from mode import Service

from channelhub.settings import Settings
from streams import kafka
from streams.acks import InFlight
from streams.routing import RawMessage, route

log = logging.getLogger(__name__)


class RawValidator(Service):
    """Consumes ``settings.topic_raw`` as group ``<group_prefix>-validate``."""

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        self.settings = settings
        self.routed = {"events": 0, "dlq": 0}
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._in_flight = InFlight(self._commit)
        super().__init__(**kwargs)  # type: ignore[arg-type]

    async def on_start(self) -> None:
        s = self.settings
        self._producer = kafka.producer(s)
        self._consumer = kafka.consumer(s, "validate", s.topic_raw)
        await self._producer.start()
        await self._consumer.start()
        log.info("validating %s → %s | %s", s.topic_raw, s.topic_events, s.topic_dlq)

    async def on_stop(self) -> None:
        await self._in_flight.drain()
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        log.info("stopped after routing %s", self.routed)

    @Service.task
    async def _validate(self) -> None:
        assert self._consumer is not None
        last_report = time.monotonic()
        while not self.should_stop:
            fetched = await self._consumer.getmany(
                timeout_ms=int(self.settings.worker_batch_seconds * 1000),
                max_records=self.settings.worker_batch_size,
            )
            if fetched:
                await self._process(fetched)
            if time.monotonic() - last_report > 30:
                log.info("routed so far: %s", self.routed)
                last_report = time.monotonic()

    async def _process(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        assert self._consumer is not None
        assert self._producer is not None
        topics = {"events": self.settings.topic_events, "dlq": self.settings.topic_dlq}
        pending = []
        commit: dict[TopicPartition, int] = {}
        now = datetime.now(UTC)
        skew = timedelta(seconds=self.settings.clock_skew_seconds)
        for tp, records in fetched.items():
            for r in records:
                routed = route(
                    RawMessage(r.value, r.key, r.topic, r.partition, r.offset, r.timestamp / 1000),
                    now=now,
                    skew=skew,
                )
                pending.append(
                    await self._producer.send(topics[routed.destination], routed.value, routed.key)
                )
                self.routed[routed.destination] += 1
            commit[tp] = records[-1].offset + 1
        # The next batch is routed while this one's records are acknowledged.
        await self._in_flight.add(pending, commit)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        await self._consumer.commit(offsets)
