"""Writing a batch to Kafka from the collector's event loop, acknowledged before the reply.

Why kafka-python in a thread and not aiokafka: aiokafka 0.14 only speaks InitProducerId v0,
which the local Tansu broker refuses (``UnknownError``), so it cannot produce idempotently
here; kafka-python 3.0 is idempotent with ``acks='all'`` against Tansu and Apache Kafka alike,
so a retried produce request never duplicates a record. Its ``KafkaProducer`` is thread-safe
and does all network I/O on its own sender thread; only ``send()`` can block (waiting for
metadata or buffer space, at most ``max_block_ms``), so the sends run in a worker thread and
the acknowledgements are counted on the sender thread and resolve one asyncio future per
batch, which keeps 10,000 records from costing 10,000 cross-thread wake-ups.
"""

import asyncio
import logging
import threading
import time
from collections.abc import Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError

from channelhub.ingest.http_batch import Record
from kernel import kafka
from kernel.errors import ServiceError

log = logging.getLogger(__name__)

#: How long ``send()`` may wait for metadata or buffer space, and one produce request may take.
_BLOCK_MS = 5_000
#: Longest wait between two connection attempts at start-up.
_MAX_BACKOFF_S = 10.0


class BrokerUnavailableError(ServiceError):
    """The broker did not acknowledge a batch in time; the client should retry the batch."""


class BrokerWriter:
    """One idempotent producer for the process, connected in the background.

    The collector starts serving before the broker answers so ``/health`` can say
    "starting" instead of the port being closed; :attr:`ready` turns true once the producer
    has metadata for every topic it writes to.
    """

    def __init__(
        self, bootstrap: str, topics: Sequence[str], *, delivery_timeout_s: float = 10.0
    ) -> None:
        if delivery_timeout_s < 0.1:
            raise ValueError(f"delivery_timeout_s is {delivery_timeout_s}; use at least 0.1 s")
        self._bootstrap = bootstrap
        self._topics = tuple(topics)
        self._delivery_timeout_s = delivery_timeout_s
        self._producer: KafkaProducer | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self.last_error = "not connected yet"

    @property
    def ready(self) -> bool:
        return self._producer is not None

    async def connect(self) -> None:
        """Create the producer, retrying with backoff until the broker and topics answer."""
        backoff = 0.5
        while self._producer is None:
            try:
                self._producer = await asyncio.to_thread(self._open)
            except KafkaError as e:
                self.last_error = (
                    f"broker {self._bootstrap} or topics {self._topics} not available: {e!r}"
                )
                log.warning("%s; retrying in %.1f s", self.last_error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
        log.info("connected to %s, writing to %s", self._bootstrap, ", ".join(self._topics))

    def _open(self) -> KafkaProducer:
        delivery_ms = int(self._delivery_timeout_s * 1000)
        producer = kafka.idempotent_producer(
            self._bootstrap,
            "channelhub-collector",
            linger_ms=5,
            max_block_ms=_BLOCK_MS,
            # kafka-python insists on delivery > linger + request timeout
            request_timeout_ms=min(_BLOCK_MS, delivery_ms // 2),
            delivery_timeout_ms=delivery_ms,
            bootstrap_timeout_ms=_BLOCK_MS,
        )
        try:
            for topic in self._topics:
                producer.partitions_for(topic)
        except KafkaError:
            producer.close(timeout=0)
            raise
        return producer

    async def write(self, records: Sequence[Record]) -> None:
        """Return once the broker acknowledged every record, else raise BrokerUnavailableError.

        On failure some records may still reach the broker; the caller answers "retry the
        whole batch" and downstream deduplication by event id absorbs the repeats.
        """
        producer = self._producer
        if producer is None:
            raise BrokerUnavailableError(self.last_error)
        if not records:
            return
        loop = asyncio.get_running_loop()
        acks = _Acks(loop, len(records))
        deadline = time.monotonic() + self._delivery_timeout_s
        try:
            await asyncio.to_thread(_send_all, producer, records, acks, deadline)
            await asyncio.wait_for(acks.future, max(deadline - time.monotonic(), 0) + 1.0)
        except (KafkaError, TimeoutError) as e:
            acks.future.cancel()
            self.last_error = (
                f"broker {self._bootstrap} did not acknowledge {len(records)} records: {e!r}"
            )
            self._reconnect(producer)
            raise BrokerUnavailableError(self.last_error) from e

    def _reconnect(self, failed: KafkaProducer) -> None:
        """Replace a producer that failed a batch with a new one, in the background.

        An idempotent producer whose broker restarted (the local broker forgets producer ids
        and sequence numbers with everything else) stays in error for good, so the collector
        would answer 503 until restarted. A new producer gets a new id; until it is
        connected, ``/health`` says "starting" and requests are answered 503 with Retry-After.
        """
        if self._producer is not failed:
            return  # another request already replaced it
        self._producer = None
        log.warning("%s; reconnecting", self.last_error)
        self._reconnecting = asyncio.create_task(self._replace(failed))

    async def _replace(self, failed: KafkaProducer) -> None:
        # Closing a producer whose broker went away can block for good (its sender thread
        # waits on the dead connection): close it on a daemon thread and never wait for it.
        threading.Thread(target=_abandon, args=(failed,), daemon=True).start()
        await self.connect()

    async def close(self) -> None:
        """Deliver what is buffered (bounded by the delivery timeout), then disconnect."""
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        producer, self._producer = self._producer, None
        if producer is not None:
            await asyncio.to_thread(producer.close, self._delivery_timeout_s)


def _send_all(
    producer: KafkaProducer, records: Sequence[Record], acks: "_Acks", deadline: float
) -> None:
    """Queue every record (runs in a worker thread: ``send`` may block on a full buffer)."""
    for record in records:
        if time.monotonic() > deadline:
            raise TimeoutError("the producer's buffer stayed full until the delivery deadline")
        future = producer.send(record.topic, value=record.value, key=record.key)
        future.add_callback(acks.ok)
        future.add_errback(acks.failed)


class _Acks:
    """Counts acknowledgements on the sender thread; settles one asyncio future for the batch.

    It resolves when the last record is acknowledged, or fails on the first error.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, total: int) -> None:
        self._loop = loop
        self._remaining = total
        self._lock = threading.Lock()
        self.future: asyncio.Future[None] = loop.create_future()

    def ok(self, _metadata: object) -> None:
        with self._lock:
            self._remaining -= 1
            done = self._remaining == 0
        if done:
            self._loop.call_soon_threadsafe(self._settle, None)

    def failed(self, error: BaseException) -> None:
        self._loop.call_soon_threadsafe(self._settle, error)

    def _settle(self, error: BaseException | None) -> None:
        if self.future.done():
            return
        if error is None:
            self.future.set_result(None)
        else:
            self.future.set_exception(error)


def _abandon(producer: KafkaProducer) -> None:
    """Close a failed producer without waiting: what it still held is lost to it (the clients
    were answered 503 and send again), so a flush that times out is expected, not an error."""
    try:
        producer.close(timeout=0)
    except KafkaError as e:
        log.info("the failed producer closed with records unsent, as expected: %s", e)
