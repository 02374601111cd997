"""The ClickHouse sink as a stage of the shared runtime: routed topics → :class:`Sink` → commit.

Group ``<group_prefix>-sink`` reads every topic of :func:`sinks.routes.routes` on
:class:`streams.runtime.BatchStage`, which owns the aiokafka consumer, the fetch loop, commits
in fetch order, the rebalance listener, progress and lag. What is left here is when to write
and what to do while ClickHouse cannot take the rows:

- a fetched batch is added to the core (:mod:`sinks.writer`) and written when a flush is due
  (``sink_batch_size`` rows held, or anything held for ``sink_flush_seconds``, which
  :meth:`SinkStage.between_batches` also checks while nothing arrives; a sink whose lag would
  fill the batch holds its rows up to ``sink_catch_up_seconds`` for one full insert, see
  :meth:`sinks.writer.Sink.due`); the fold hands the
  runtime the offsets of everything written, with no acknowledgements to wait for: the insert
  is done when clickhouse-driver returns;
- every call into the core runs in a thread (``asyncio.to_thread``) under the stage's lock:
  the driver blocks, and the event loop must keep heartbeating and answering rebalances;
- ClickHouse unavailable: the assigned partitions are paused (the consumer stays in its group)
  and the flush is retried with the core's backoff between batches; partitions assigned
  meanwhile are paused too, and each table's memory of written ids is loaded again before its
  next insert. A flush that lands resumes them;
- partitions revoked: what was read from them is written and committed first, or, while
  ClickHouse is unavailable, forgotten uncommitted; aiokafka reads every partition it is
  assigned again from its committed offset;
- stopping (SIGTERM, or :meth:`SinkStage.run_until` done): what is held is written for up to
  :data:`sinks.writer.STOP_PATIENCE_S` and committed; a stage that crashed commits nothing
  more, and the next start reads the rest again.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from aiokafka import TopicPartition

from kernel.settings import Settings
from sinks.writer import Sink
from streams.acks import Offsets
from streams.runtime import Acks, BatchStage, Fetched

log = logging.getLogger(__name__)


class SinkStage(BatchStage):
    """Consumes every routed topic as group ``<group_prefix>-sink`` into ClickHouse."""

    stage = "sink"
    produces = False

    def __init__(self, settings: Settings, sink: Sink | None = None, **kwargs: object) -> None:
        self.sink = sink or Sink(settings)
        super().__init__(settings, **kwargs)

    def topics(self) -> list[str]:
        return list(self.sink.buffers)

    def started_message(self) -> str:
        return f"writing {self.topics()} to ClickHouse database {self.sink.db}"

    def batch_size(self) -> int:
        return self.settings.sink_batch_size

    def progress(self) -> Mapping[str, object]:
        return self.sink.progress()

    async def fold(self, fetched: Fetched) -> tuple[Acks, Offsets]:
        """Add the batch, and write it with what is held when a flush is due; commit what
        was written."""
        if self.should_stop:
            return [], {}  # uncommitted: read again at the next start
        offsets = await asyncio.to_thread(self._add_and_flush, fetched, await self._waiting())
        self._follow_availability()
        return [], offsets

    async def between_batches(self) -> None:
        """Write what has been held long enough, or try ClickHouse again after an outage's
        backoff, while nothing new arrives."""
        if not self.sink.due(time.monotonic()):
            return  # not due even with nothing waiting: the lag need not be asked
        async with self._lock:
            offsets = await asyncio.to_thread(self._flush_if_due, await self._waiting())
            self._follow_availability()
        if offsets:
            await self._in_flight.add([], offsets)

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.sink.assigned(assigned)
        if self.sink.unavailable:
            self.consumer.pause(*assigned)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Write and commit what was read from the partitions (all of them: aiokafka's
        rebalancing is eager), or forget it uncommitted while ClickHouse is unavailable."""
        sink = self.sink
        if not (sink.buffered or sink.pending):
            return
        if not sink.unavailable and await asyncio.to_thread(sink.flush):
            await self.commit(sink.take_pending())
            return
        sink.forget()

    async def on_stop(self) -> None:
        """Write and commit what is held (unless the stage crashed), then stop the clients."""
        if not self.crashed and self._consumer is not None:
            log.info("stopping: writing the %d rows held, then committing", self.sink.buffered)
            async with self._lock:
                landed = await asyncio.to_thread(self.sink.flush_before_stopping)
            if landed and self.sink.pending:
                await self._in_flight.add([], self.sink.take_pending())
        await super().on_stop()

    async def run_until(self, done: Callable[[], bool], every: float = 0.1) -> None:
        """Start, run until ``done()`` holds, stop (writing and committing what is held); for
        users inside another process (tests, ``channelhub rebuild``). Re-raises what crashed
        the stage."""
        await self.start()
        try:
            while True:  # done() is any predicate, polled: no event to wait for
                if self.crashed or done():
                    break
                await asyncio.sleep(every)
        finally:
            await self.stop()
        if self.crash_reason is not None:
            raise self.crash_reason

    async def _waiting(self) -> int:
        """Records in the assigned partitions not yet read (0 while an end is unknown)."""
        return await self.lag() or 0

    def _add_and_flush(self, fetched: Fetched, waiting: int) -> Offsets:
        self.sink.add(fetched)
        return self._flush_if_due(waiting)

    def _flush_if_due(self, waiting: int) -> Offsets:
        """In the thread: flush when due; the offsets to commit if everything landed."""
        if self.sink.due(time.monotonic(), waiting) and self.sink.flush():
            return self.sink.take_pending()
        return {}

    def _follow_availability(self) -> None:
        """Keep reading paused while ClickHouse is unavailable, and resume when it is back."""
        if self.sink.unavailable:
            self.consumer.pause(*self.consumer.assignment())
        elif paused := self.consumer.paused():
            self.consumer.resume(*paused)
