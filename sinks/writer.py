"""The ClickHouse sink: every topic of :func:`sinks.routes.routes` into its table, exactly once.

One kafka-python consumer (group ``<group_prefix>-sink``) reads all those topics. Messages are
turned into rows as they arrive and buffered per table; a batch is written when it is large
enough or old enough, and only after every table's insert succeeded are the offsets committed.
A crash before the commit re-reads the batch; :class:`sinks.dedupe.RecentIds` (reloaded from
ClickHouse on assignment) drops what was already written, so counts stay exact. ClickHouse
being down means the batch is retried with backoff, never dropped. A record that cannot become
a row is dead-lettered with the reason (:meth:`Sink._dead_letter`), not allowed to stop the
tables behind it.
"""

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import msgspec
from clickhouse_driver import Client
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
from tenacity import Retrying, before_sleep_log, retry_if_exception_type, wait_exponential

from channelhub.errors import StorageError
from channelhub.settings import Settings
from schemas import Rejection
from schemas.dead_letter import dead_letter
from sinks.client import connect, database_name, storage_errors
from sinks.dedupe import RecentIds
from sinks.pseudonym import Pseudonymizer
from sinks.routes import routes

log = logging.getLogger(__name__)

DEDUPE_HORIZON_S = 3600


@dataclass
class TableBuffer:
    """Rows waiting for one table, and the ids that table already holds."""

    table: ModuleType
    recent: RecentIds
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    written: int = 0
    duplicates: int = 0

    def add(self, event_id: str, row: tuple[Any, ...]) -> None:
        if event_id in self.ids or event_id in self.recent:
            self.duplicates += 1
            return
        self.ids.add(event_id)
        self.rows.append(row)


class Sink:
    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self.settings = settings
        self.db = database_name(settings)
        self.client = client or connect(settings)
        self.pseudonymize = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())
        window = settings.sink_dedupe_window
        self.buffers = {
            topic: TableBuffer(table, RecentIds(window))
            for topic, table in routes(settings).items()
        }
        self.pending: dict[TopicPartition, int] = {}
        self._stopping = False

    # -- consuming -------------------------------------------------------------------------

    def run(self, *, until: Callable[[], bool] = lambda: False) -> None:
        """Consume until SIGTERM/SIGINT (or ``until()``), then flush, commit and close."""
        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=f"{self.settings.group_prefix}-sink",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.settings.kafka_session_timeout_ms // 6,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        consumer.subscribe(list(self.buffers), listener=_Rebalance(self, consumer))
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        log.info("writing %s to ClickHouse database %s", list(self.buffers), self.db)
        last_flush = last_report = time.monotonic()
        try:
            while not (self._stopping or until()):
                fetched = consumer.poll(timeout_ms=200, max_records=self.settings.sink_batch_size)
                self.add(fetched)
                now = time.monotonic()
                if self.buffered >= self.settings.sink_batch_size or (
                    self.buffered and now - last_flush >= self.settings.sink_flush_seconds
                ):
                    self.flush(consumer)
                    last_flush = now
                if now - last_report >= 30:
                    log.info("progress: %s", self.progress())
                    last_report = now
            self.flush(consumer)
        finally:
            consumer.close(autocommit=False)
            log.info("stopped: %s", self.progress())

    def _stop(self, signum: int, _frame: object) -> None:
        log.info("signal %s: flushing and stopping", signum)
        self._stopping = True

    def add(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        ingested_at = datetime.now(UTC).replace(microsecond=0)
        for tp, records in fetched.items():
            buffer = self.buffers[tp.topic]
            for r in records:
                try:
                    row = buffer.table.row(
                        r.value,
                        partition=r.partition,
                        offset=r.offset,
                        ingested_at=ingested_at,
                        pseudonymize=self.pseudonymize,
                    )
                except (KeyError, TypeError, ValueError, AttributeError) as e:
                    self._dead_letter(r, buffer.table.TABLE, e, ingested_at)
                    continue
                buffer.add(*row)
            self.pending[tp] = records[-1].offset + 1

    def _dead_letter(self, r: Any, table: str, e: Exception, ingested_at: datetime) -> None:
        """A record that cannot become a row (only our own services write these topics, so
        it is a bug or a stray producer) goes to ``dead_letters`` with the reason, instead
        of stopping every table behind it; the record itself stays in its topic."""
        raw = r.value if isinstance(r.value, bytes) else b""
        why = f"the sink cannot turn this {r.topic} record into a {table} row: {e!r}"
        log.error("%s:%d:%d: %s", r.topic, r.partition, r.offset, why)
        letter = dead_letter(
            raw,
            Rejection("unreadable_record", "", why[:1000]),
            source_topic=r.topic,
            source_partition=r.partition,
            source_offset=r.offset,
            received_at=ingested_at,
        )
        dlq = self.buffers[self.settings.topic_dlq]
        dlq.add(
            *dlq.table.row(
                msgspec.json.encode(letter),
                partition=r.partition,
                offset=r.offset,
                ingested_at=ingested_at,
                pseudonymize=self.pseudonymize,
            )
        )

    @property
    def buffered(self) -> int:
        return sum(len(b.rows) for b in self.buffers.values())

    def progress(self) -> dict[str, dict[str, int]]:
        return {
            b.table.TABLE: {"written": b.written, "duplicates_dropped": b.duplicates}
            for b in self.buffers.values()
        }

    # -- writing ---------------------------------------------------------------------------

    def flush(self, consumer: KafkaConsumer) -> None:
        """Insert every buffer (retrying while ClickHouse is unavailable), then commit."""
        for buffer in self.buffers.values():
            if buffer.rows:
                self._insert_with_retry(buffer)
        if self.pending:
            consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in self.pending.items()})
            self.pending.clear()

    def _insert_with_retry(self, buffer: TableBuffer) -> None:
        for attempt in Retrying(
            retry=retry_if_exception_type(StorageError),
            wait=wait_exponential(multiplier=0.5, max=15),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        ):
            with attempt:
                if self._stopping and attempt.retry_state.attempt_number > 20:
                    raise StorageError("giving up on ClickHouse while stopping; not committed")
                self.insert(buffer)

    def insert(self, buffer: TableBuffer) -> None:
        with storage_errors(f"cannot insert into {self.db}.{buffer.table.TABLE}"):
            self.client.execute(buffer.table.INSERT.format(db=self.db), buffer.rows)
        buffer.written += len(buffer.rows)
        buffer.recent.extend(buffer.ids)
        buffer.rows.clear()
        buffer.ids.clear()

    def remember(self, topic: str, partitions: list[int]) -> None:
        """Load the ids recently written for these partitions, before reading them again."""
        buffer = self.buffers[topic]
        query = buffer.table.RECENT_IDS.format(db=self.db)
        with storage_errors(f"cannot read recent ids of {self.db}.{buffer.table.TABLE}"):
            ids = self.client.execute(
                query, {"partitions": tuple(partitions), "horizon": DEDUPE_HORIZON_S}
            )
        buffer.recent.extend(i for (i,) in ids)
        log.info("%s: remembered %d recent ids for partitions %s", topic, len(ids), partitions)


class _Rebalance(ConsumerRebalanceListener):
    """Flush before partitions go; reload the dedupe memory when they come."""

    def __init__(self, sink: Sink, consumer: KafkaConsumer) -> None:
        self.sink = sink
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:
            self.sink.flush(self.consumer)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        by_topic: dict[str, list[int]] = {}
        for tp in assigned:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        for topic, partitions in by_topic.items():
            self.sink.remember(topic, sorted(partitions))
