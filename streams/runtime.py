"""The batched stage runtime: what every consume → fold → produce → commit stage shares.

The stages on it: validation (:mod:`streams.validator`), nudges (:mod:`streams.nudges`),
dispatch (:mod:`streams.dispatcher`), campaign fan-out (:mod:`streams.campaigns`) and the
ClickHouse sink (:mod:`sinks.stage`).

A stage supplies its topics and its *fold* (one fetched batch in, the acknowledgements to
wait for and the offsets to commit out); :class:`BatchStage` owns everything around it:

- the aiokafka clients (:mod:`kernel.kafka`), started and stopped with the service (no
  producer for a stage that produces nothing, such as the sink);
- the fetch loop, ``worker_batch_size`` records (a stage's :meth:`BatchStage.batch_size`) or
  ``worker_batch_seconds`` at a time;
- batches in flight (:class:`streams.acks.InFlight`): the next batch is folded while the last
  one's records are acknowledged, and offsets are committed only after their acknowledgements,
  strictly in fetch order;
- a rebalance listener: before partitions go, every batch in flight is acknowledged and
  committed (drained), under the same lock as the fold, so a partition is never handed over
  half-done; the stage's ``on_revoked`` / ``on_assigned`` then drop or restore its state.
  A batch fetched before a rebalance but not yet folded is dropped: its partitions are read
  again from their committed offsets by whoever owns them now, this worker included;
- a commit refused after a rebalance (``CommitFailedError``, ``IllegalStateError``): the
  partition's new owner re-reads from the last committed offset and reproduces the same
  records with the same ids, which every consumer downstream collapses, so it is logged and
  the stage goes on;
- progress: a log line every 30 s with the stage's counts and its lag (records between the
  stage's position and the end of each assigned partition).

A send that fails (the broker gone for longer than the producer's own retries) raises out of
the fetch loop and stops the worker process, with nothing committed past the last
acknowledged batch: ``channelhub up`` restarts it, and it resumes from its committed offsets.

Where faust fits: each stream stage runs as a ``mode.Service`` inside a faust worker
(:mod:`streams.__main__`), which gives it the event loop, logging, signal handling and the
local web endpoint (the sink runs in a plain ``mode`` worker, :mod:`sinks.__main__`).
faust's agents and tables are not used: its per-event scheduling costs about 130 µs, which
caps an agent near 9k events/s, and the nudge stage keeps its own state in a changelog topic
(:mod:`streams.state_store`).
"""

import asyncio
import logging
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import ClassVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError
from mode import Service

from kernel import kafka
from kernel.settings import Settings
from streams.acks import InFlight, Offsets

log = logging.getLogger(__name__)

Fetched = dict[TopicPartition, list[ConsumerRecord]]
Acks = Sequence["asyncio.Future[object]"]

PROGRESS_SECONDS = 30.0


class BatchStage(Service):
    """One stage: group ``<group_prefix>-<stage>`` over :meth:`topics`, folded by :meth:`fold`."""

    #: The consumer group's suffix and the name in logs.
    stage: ClassVar[str]
    #: Whether the stage sends records (False: no producer is started).
    produces: ClassVar[bool] = True

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        self.settings = settings
        self.counts: Counter[str] = Counter()
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._in_flight = InFlight(self.commit)
        self._generation = 0
        """Counts rebalances: a batch fetched before the last one is not folded."""
        super().__init__(**kwargs)  # type: ignore[arg-type]

    # -- what a stage supplies ---------------------------------------------------------------

    @abstractmethod
    def topics(self) -> list[str]:
        """The topics this stage consumes."""

    @abstractmethod
    async def fold(self, fetched: Fetched) -> tuple[Acks, Offsets]:
        """Fold one batch and send its records; return their acknowledgements and the offsets
        to commit once they are in. Runs under the stage's lock; must not raise on input."""

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Partitions arrived (under the lock, before they are fetched): restore their state."""

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Partitions go (under the lock, after every batch in flight is committed)."""

    async def between_batches(self) -> None:
        """Periodic work between two batches, outside the lock (e.g. reloading rules)."""

    def started_message(self) -> str:
        return f"{self.stage}: consuming {', '.join(self.topics())}"

    def batch_size(self) -> int:
        """The most records one fold gets."""
        return self.settings.worker_batch_size

    def progress(self) -> Mapping[str, object]:
        """What the progress log line and the stop line report."""
        return dict(self.counts)

    # -- the runtime ---------------------------------------------------------------------------

    @property
    def producer(self) -> AIOKafkaProducer:
        assert self._producer is not None, "the stage has not started"
        return self._producer

    @property
    def consumer(self) -> AIOKafkaConsumer:
        assert self._consumer is not None, "the stage has not started"
        return self._consumer

    async def on_start(self) -> None:
        self._consumer = kafka.consumer(self.settings, self.stage)
        if self.produces:
            self._producer = kafka.producer(self.settings)
            await self._producer.start()
        await self._consumer.start()
        self._consumer.subscribe(self.topics(), listener=_Rebalance(self))
        log.info("%s", self.started_message())

    async def on_stop(self) -> None:
        try:
            await self._in_flight.drain()
        finally:
            if self._consumer is not None:
                await self._consumer.stop()
            if self._producer is not None:
                await self._producer.stop()
        log.info("%s: stopped after %s", self.stage, self.progress())

    @Service.task
    async def _fetch_loop(self) -> None:
        last_report = time.monotonic()
        while not self.should_stop:
            await self.between_batches()
            fetched = await self.consumer.getmany(
                timeout_ms=int(self.settings.worker_batch_seconds * 1000),
                max_records=self.batch_size(),
            )
            # getmany returns records of the assignment current when it returns; a rebalance
            # between here and the lock makes them stale.
            generation = self._generation
            if fetched:
                async with self._lock:
                    if generation != self._generation:
                        continue  # rebalanced meanwhile: read again from the committed offsets
                    acks, offsets = await self.fold(fetched)
                # The next batch is folded while this one's records are acknowledged.
                await self._in_flight.add(acks, offsets)
            if time.monotonic() - last_report > PROGRESS_SECONDS:
                last_report = time.monotonic()
                log.info("%s: %s, lag %s", self.stage, self.progress(), await self.lag())

    async def lag(self) -> int | None:
        """Records between this stage's position and the end of its partitions (None while
        some partition has no known end yet)."""
        total = 0
        for tp in self.consumer.assignment():
            end = self.consumer.highwater(tp)
            if end is None:
                return None
            total += max(0, end - await self.consumer.position(tp))
        return total

    async def commit(self, offsets: Offsets) -> None:
        """Commit ``offsets`` now. Called outside the lock (by the batches in flight, or a
        stage's own tasks): a rebalance waiting for the lock must not block it."""
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as e:
            log.warning(
                "%s: commit after a rebalance refused (%s); the partitions' new owner re-reads "
                "from the last committed offset and produces the same ids again",
                self.stage,
                e,
            )

    async def _revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:
            if revoked:  # aiokafka reads reassigned partitions again from their commits
                self._generation += 1
            await self._in_flight.drain()
            await self.on_revoked(revoked)

    async def _assigned(self, assigned: set[TopicPartition]) -> None:
        async with self._lock:
            await self.on_assigned(assigned)


class _Rebalance(ConsumerRebalanceListener):
    """aiokafka awaits these before fetching resumes."""

    def __init__(self, stage: BatchStage) -> None:
        self.stage = stage

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.stage._revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.stage._assigned(assigned)
