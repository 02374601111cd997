"""The ClickHouse sink's core: every topic of :func:`sinks.routes.routes` into its table, once.

:class:`Sink` holds no Kafka client. It is given fetched records (:meth:`Sink.add`), turns them
into rows as they arrive and buffers them per table, each row with the record it came from;
:meth:`Sink.flush` writes what it holds and says whether everything landed (or was
dead-lettered), and only then may the offsets it hands out (:meth:`Sink.take_pending`) be
committed. The stage that reads the topics and commits, on the shared stage runtime, is
:mod:`sinks.stage`; it calls the core from a thread, because clickhouse-driver blocks.

It never stops and never doubles:

- A record that makes no row becomes a ``dead_letters`` row (``unreadable_record``); a row
  ClickHouse refuses for its content is found by bisecting its batch (the other rows land) and
  becomes one too (``unwritable_row``, with the server's message).
- ClickHouse unavailable (down, overloaded, shutting down, or refusing us for a reason that is
  not in the data) means the same rows are retried with backoff (:meth:`Sink.due`), and
  :attr:`Sink.unavailable` tells the stage to keep reading paused meanwhile.
- Nothing is inserted into a table before the ids it holds for the partitions read are loaded
  (:class:`sinks.dedupe.RecentIds`, bounded in entries and time); rows with those ids are
  dropped. Rows that might repeat one written before the memory's horizon (their own time is
  old enough, see :mod:`sinks.dedupe`), and every row of an insert that failed after it may
  have landed, are looked up in ClickHouse first, once per batch.
- Rows held when their partitions go while ClickHouse is unavailable are forgotten with their
  offsets (:meth:`Sink.forget`): the partitions' next owner reads them again from the
  committed offsets.
"""

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka.structs import TopicPartition
from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError
from clickhouse_driver.errors import (
    ErrorCodes,
    NetworkError,
    PartiallyConsumedQueryError,
    ServerException,
    SocketTimeoutError,
    UnexpectedPacketFromServerError,
    UnknownPacketFromServerError,
)

from kernel.errors import StorageError
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from schemas import Rejection
from schemas.dead_letter import dead_letter
from schemas.validation import ReasonCode
from sinks.client import connect, database_name
from sinks.dedupe import RecentIds
from sinks.routes import decoders, routes
from sinks.tables import Table

log = logging.getLogger(__name__)

#: Added to the clock skew when choosing the rows to look up in ClickHouse: ingest times are
#: whole seconds, and the clocks of the stages that stamp a record are not the sink's.
LATE_MARGIN_S = 60.0
#: The first wait after ClickHouse failed, doubled at each failure up to the second.
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 15.0
#: How long a stopping sink keeps trying to write what it holds before it leaves it unwritten
#: and uncommitted, for the next start to read again.
STOP_PATIENCE_S = 5.0

#: Server errors that say nothing about the rows: the server is busy, short of memory, going
#: away or lost a connection, or the deployment is wrong (a table or column missing, our user
#: refused), which an operator fixes. The same rows are retried; none is dead-lettered.
_NOT_THE_ROWS = frozenset(
    {
        ErrorCodes.CANNOT_READ_FROM_SOCKET,
        ErrorCodes.CANNOT_WRITE_TO_SOCKET,
        ErrorCodes.TIMEOUT_EXCEEDED,
        ErrorCodes.TOO_SLOW,
        ErrorCodes.TOO_MANY_SIMULTANEOUS_QUERIES,
        ErrorCodes.NO_FREE_CONNECTION,
        ErrorCodes.SOCKET_TIMEOUT,
        ErrorCodes.NETWORK_ERROR,
        ErrorCodes.NO_ZOOKEEPER,
        ErrorCodes.ABORTED,
        ErrorCodes.MEMORY_LIMIT_EXCEEDED,
        ErrorCodes.TABLE_IS_READ_ONLY,
        ErrorCodes.UNEXPECTED_ZOOKEEPER_ERROR,
        ErrorCodes.TOO_MANY_PARTS,
        ErrorCodes.ALL_CONNECTION_TRIES_FAILED,
        ErrorCodes.TOO_LESS_LIVE_REPLICAS,
        ErrorCodes.REPLICA_IS_NOT_IN_QUORUM,
        ErrorCodes.UNKNOWN_STATUS_OF_INSERT,
        ErrorCodes.QUERY_WAS_CANCELLED,
        ErrorCodes.KEEPER_EXCEPTION,
        ErrorCodes.UNKNOWN_TABLE,
        ErrorCodes.UNKNOWN_DATABASE,
        ErrorCodes.NO_SUCH_COLUMN_IN_TABLE,
        ErrorCodes.SYNTAX_ERROR,
        ErrorCodes.READONLY,
        ErrorCodes.UNKNOWN_USER,
        ErrorCodes.WRONG_PASSWORD,
        ErrorCodes.REQUIRED_PASSWORD,
        ErrorCodes.DATABASE_ACCESS_DENIED,
        497,  # ACCESS_DENIED
        516,  # AUTHENTICATION_FAILED
    }
)

#: Client errors of the connection, not of the values being written.
_CONNECTION_ERRORS = (
    OSError,
    EOFError,
    NetworkError,
    SocketTimeoutError,
    UnexpectedPacketFromServerError,
    UnknownPacketFromServerError,
    PartiallyConsumedQueryError,
)


class Message(Protocol):
    """What the sink reads of a Kafka record (aiokafka's ``ConsumerRecord``)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...


class UnavailableError(StorageError):
    """ClickHouse cannot take a statement now, for a reason that is not in the rows."""


def rows_at_fault(e: Exception) -> bool:
    """Whether ClickHouse (or its client, checking values against the columns) refused an
    insert for the rows' content, rather than for an outage or a deployment fault."""
    if isinstance(e, ServerException):
        if e.code == ErrorCodes.TOO_MANY_PARTS:
            # also the code of "Too many partitions for single INSERT block": fewer rows fit
            return "single INSERT block" in str(e.message)
        return e.code not in _NOT_THE_ROWS
    return not isinstance(e, _CONNECTION_ERRORS)


def reason(e: Exception) -> str:
    """The refusal as one line: the server's message without its stack trace."""
    if isinstance(e, ServerException):
        said = str(e.message).split("Stack trace:", 1)[0].strip()
        return f"code {e.code}: {said.removeprefix('DB::Exception: ')}"
    return f"{type(e).__name__}: {e}"


@dataclass(eq=False)
class TableBuffer:
    """Rows waiting for one table, the record each came from, and what the table holds."""

    table: Table[Any]
    #: Bytes of the topic to its contract's record type; raises for anything else.
    decode: Callable[[bytes], Any]
    recent: RecentIds
    ids: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    #: The record of each row; None for a dead letter the sink made itself.
    sources: list[Message | None] = field(default_factory=list)
    batch: set[str] = field(default_factory=set)
    #: The topic's partitions this sink reads, and those ``recent`` was loaded for (None: it
    #: must be loaded before the next insert).
    partitions: set[int] = field(default_factory=set)
    loaded: frozenset[int] | None = None
    #: An insert of these rows failed after it may have landed: look them all up first.
    unsure: bool = False
    written: int = 0
    #: Inserts that landed: ``written / inserts`` is the rows per insert, what the sink's cost
    #: per row follows (see :meth:`Sink.due`).
    inserts: int = 0
    duplicates: int = 0
    unwritable: int = 0

    def add(self, event_id: str, row: tuple[Any, ...], source: Message | None) -> None:
        if event_id in self.batch or event_id in self.recent:
            self.duplicates += 1
            return
        self.batch.add(event_id)
        self.ids.append(event_id)
        self.rows.append(row)
        self.sources.append(source)

    def keep(self, indices: Iterable[int]) -> None:
        """Keep only the rows at ``indices`` (ascending)."""
        kept = list(indices)
        self.ids = [self.ids[i] for i in kept]
        self.rows = [self.rows[i] for i in kept]
        self.sources = [self.sources[i] for i in kept]
        self.batch = set(self.ids)

    def drop(self, ids: set[str]) -> None:
        """Drop the rows with these ids: the table holds them already."""
        if ids:
            self.duplicates += len(ids)
            self.keep(i for i, event_id in enumerate(self.ids) if event_id not in ids)

    def clear(self) -> None:
        self.ids, self.rows, self.sources = [], [], []
        self.batch = set()
        self.unsure = False


class Sink:
    """The buffers of every routed table, what is read but not committed, and ClickHouse's
    availability; used by one task at a time (the stage's lock sees to it)."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self.settings = settings
        self.db = database_name(settings)
        self.client = client or connect(settings)
        self.pseudonymize = Pseudonymizer.from_settings(settings)
        decode = decoders(settings)
        self.buffers = {
            topic: TableBuffer(table, decode[topic], RecentIds(settings.sink_dedupe_window))
            for topic, table in routes(settings).items()
        }
        self.dlq = self.buffers[settings.topic_dlq]
        #: Dead letters last: writing the other tables may add to them.
        self._order = [b for b in self.buffers.values() if b is not self.dlq] + [self.dlq]
        #: How old a row's own time must be (beyond the memory's horizon) to be looked up.
        self._late_window = settings.clock_skew_seconds + LATE_MARGIN_S
        #: The offset after the last record read, per partition, until it is committed.
        self.pending: dict[TopicPartition, int] = {}
        self._last_flush = time.monotonic()
        #: While ClickHouse is unavailable: the failures in a row, and when to try again.
        self._failures = 0
        self._retry_at: float | None = None

    # -- reading ---------------------------------------------------------------------------

    def add(self, fetched: Mapping[TopicPartition, Sequence[Message]]) -> None:
        """Turn fetched records into buffered rows, or into dead letters; never raises."""
        ingested_at = datetime.now(UTC).replace(microsecond=0)
        for tp, records in fetched.items():
            buffer = self.buffers[tp.topic]
            buffer.partitions.add(tp.partition)
            build, decode = buffer.table.row, buffer.decode
            for r in records:
                try:
                    event_id, row = build(
                        decode(r.value),  # type: ignore[arg-type]  # None is refused here
                        partition=r.partition,
                        offset=r.offset,
                        ingested_at=ingested_at,
                        pseudonymize=self.pseudonymize,
                    )
                except Exception as e:  # any defect of one record costs a dead letter only
                    table = buffer.table.name
                    why = f"the sink cannot turn this {r.topic} record into a {table} row: {e!r}"
                    self._dead_letter(r, "unreadable_record", why, ingested_at)
                    continue
                buffer.add(event_id, row, r)
            if records:
                self.pending[tp] = records[-1].offset + 1

    def _dead_letter(self, r: Message, code: ReasonCode, why: str, now: datetime) -> None:
        """``r`` as a ``dead_letters`` row: only our own services write these topics, so a
        record that makes no row, or a row ClickHouse refuses, is a bug or a stray producer,
        and must cost that one record (which stays in its topic for a replay), not stop the
        tables behind it. Its id and time come from the record and the broker's timestamp,
        so reading it again yields the same dead letter."""
        log.error("%s:%d:%d: %s", r.topic, r.partition, r.offset, why)
        raw = r.value if isinstance(r.value, bytes) else b""
        stamp = r.timestamp
        received = (
            datetime.fromtimestamp(stamp / 1000, UTC) if 0 < stamp < now.timestamp() * 1000 else now
        )
        letter = dead_letter(
            raw,
            Rejection(code, "", self.pseudonymize.scrub(why)[:1000]),
            source_topic=r.topic,
            source_partition=r.partition,
            source_offset=r.offset,
            received_at=received,
            timestamp_ms=stamp,
        )
        try:
            event_id, row = self.dlq.table.row(
                letter,
                partition=r.partition,
                offset=r.offset,
                ingested_at=now,
                pseudonymize=self.pseudonymize,
            )
        except Exception:
            log.exception("%s:%d:%d cannot even be dead-lettered", r.topic, r.partition, r.offset)
            return
        # Its kafka_partition is the record's: the memory of dead_letters must cover it too.
        self.dlq.partitions.add(r.partition)
        self.dlq.add(event_id, row, None)

    @property
    def buffered(self) -> int:
        return sum(len(b.rows) for b in self.buffers.values())

    def progress(self) -> dict[str, dict[str, int]]:
        return {
            b.table.name: {
                "written": b.written,
                "inserts": b.inserts,
                "duplicates_dropped": b.duplicates,
                "unwritable": b.unwritable,
            }
            for b in self.buffers.values()
        }

    # -- what the stage asks -------------------------------------------------------------

    @property
    def unavailable(self) -> bool:
        """Whether the last attempt found ClickHouse unavailable: reading stays paused."""
        return self._retry_at is not None

    def due(self, now: float, waiting: int = 0) -> bool:
        """Whether a flush is due: a full batch, or anything held past ``sink_flush_seconds``
        unless the sink is behind; while ClickHouse is unavailable, only once the backoff is
        over.

        ``waiting`` is how many records the read partitions hold beyond what was read. When
        they would fill the batch, the rows are held (for ``sink_catch_up_seconds`` at most)
        and written as one full insert: every insert writes a part of ``events`` and of each
        of its views' tables, so one of 20,000 rows costs about half as much per row as the
        ones of 2,000 a 0.5 s timer makes at 4,000 events/s (``bench/sink_views.py``), and a
        sink that is behind catches up sooner. Fewer records waiting cannot make it less due.
        """
        if self._retry_at is not None:
            return now >= self._retry_at
        held = self.buffered
        if held >= self.settings.sink_batch_size:
            return True
        since = now - self._last_flush
        if not (held or self.pending) or since < self.settings.sink_flush_seconds:
            return False
        behind = waiting >= self.settings.sink_batch_size - held
        return not behind or since >= self.settings.sink_catch_up_seconds

    def take_pending(self) -> dict[TopicPartition, int]:
        """The offsets to commit now that every row read before them landed; the sink holds
        none after this."""
        pending, self.pending = self.pending, {}
        return pending

    def assigned(self, assignment: Iterable[TopicPartition]) -> None:
        """Partitions came: the memory of every table is loaded again, for the partitions now
        read, before its next insert (not here: ClickHouse may be unavailable right now)."""
        assignment = set(assignment)
        for topic, buffer in self.buffers.items():
            buffer.partitions = {tp.partition for tp in assignment if tp.topic == topic}
            buffer.loaded = None

    def forget(self) -> None:
        """Drop every row held and every offset not committed (partitions revoked while the
        rows cannot be written): their next owner, this sink included, reads them again from
        the committed offsets, and rows that did land are dropped then."""
        if self.buffered:
            log.warning("forgetting %d unwritten rows: they are read again", self.buffered)
        for buffer in self.buffers.values():
            buffer.clear()
        self.pending.clear()

    # -- writing ---------------------------------------------------------------------------

    def flush(self) -> bool:
        """Write every buffer: True when everything held landed (or was dead-lettered), and
        :meth:`take_pending` may be committed; False, with the rows kept, while ClickHouse is
        unavailable."""
        self._last_flush = time.monotonic()
        try:
            if self._retry_at is not None and not self.buffered:
                self._probe()  # nothing to write (forgotten at a rebalance): is it back?
            for buffer in self._order:
                if buffer.rows:
                    self.write(buffer)
            while self.dlq.rows:  # dead letters of refused dead letters
                self.write(self.dlq)
        except UnavailableError as e:
            self._failures += 1
            delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (self._failures - 1))
            self._retry_at = time.monotonic() + delay
            log.warning(
                "ClickHouse unavailable (attempt %d): %s; reading paused, nothing committed, "
                "retrying in %.1f s",
                self._failures,
                e,
                delay,
            )
            return False
        if self._retry_at is not None:
            log.info("ClickHouse available again after %d failed attempts", self._failures)
        self._failures, self._retry_at = 0, None
        return True

    def flush_before_stopping(self) -> bool:
        """Flush, retrying for ``STOP_PATIENCE_S`` while ClickHouse is unavailable; False when
        the rows are left unwritten, their offsets uncommitted, for the next start."""
        deadline = time.monotonic() + STOP_PATIENCE_S
        while not self.flush():
            now = time.monotonic()
            if now >= deadline:
                log.error(
                    "stopping with %d rows unwritten and their offsets uncommitted: ClickHouse "
                    "is unavailable; the next start reads them again",
                    self.buffered,
                )
                return False
            time.sleep(max(0.0, min(self._retry_at or now, deadline) - now))
        return True

    def write(self, buffer: TableBuffer) -> None:
        """Insert what ``buffer`` holds and empty it: load the table's memory first when it
        is not loaded for the partitions read, drop the rows the table already holds, and
        dead-letter each row ClickHouse refuses. Raises :class:`UnavailableError`, with the rows
        not written still held."""
        if buffer.loaded != buffer.partitions:
            self._reload(buffer)
            buffer.drop({event_id for event_id in buffer.ids if event_id in buffer.recent})
        self._drop_written(buffer)
        if buffer.rows:
            self._insert(buffer)

    def _reload(self, buffer: TableBuffer) -> None:
        """Load the ids the table holds for the partitions read: those ingested within the
        horizon before its newest row, at most ``sink_dedupe_window`` of them."""
        table, partitions = buffer.table, frozenset(buffer.partitions)
        capacity = self.settings.sink_dedupe_window
        ((newest,),) = self._select(table, table.newest_ingest, None)
        since = max(0.0, newest - self.settings.sink_dedupe_horizon_seconds) if newest else 0.0
        ids = []
        if not partitions:
            since = newest  # nothing loaded, so nothing known before now
        elif newest:
            read = {"partitions": tuple(sorted(partitions)), "since": int(since)}
            ids = self._select(table, table.recent_ids, {**read, "limit": capacity + 1})
        buffer.recent = RecentIds.loaded(capacity, ids, since)
        buffer.loaded = partitions
        log.info(
            "%s: remembered %d ids of partitions %s, complete since %s",
            table.name,
            len(buffer.recent),
            sorted(partitions),
            datetime.fromtimestamp(buffer.recent.complete_since, UTC).isoformat(),
        )

    def _drop_written(self, buffer: TableBuffer) -> None:
        """Drop the rows ClickHouse already holds although the memory does not know them:
        looked up are the rows old enough to repeat one written before the memory's horizon
        (none on live traffic), or all of them after an insert that may have landed."""
        t = buffer.table.event_time
        rows = buffer.rows
        if buffer.unsure:
            suspects: Sequence[int] = range(len(rows))
        else:
            horizon = datetime.fromtimestamp(buffer.recent.complete_since + self._late_window, UTC)
            suspects = [i for i, row in enumerate(rows) if row[t] <= horizon]
            if not suspects:
                return
        times = [rows[i][t] for i in suspects]
        found = self._select(
            buffer.table,
            buffer.table.present_ids,
            {"low": int(min(times).timestamp()), "high": int(max(times).timestamp())},
            external_tables=[
                {
                    "name": "ids",
                    "structure": [("id", "String")],
                    "data": [{"id": buffer.ids[i]} for i in suspects],
                }
            ],
        )
        buffer.unsure = False
        if found:
            log.info("%s: %d rows are written already, dropped", buffer.table.name, len(found))
            buffer.drop({event_id for (event_id,) in found})

    def _probe(self) -> None:
        """Raise :class:`UnavailableError` unless ClickHouse answers: with no rows to write,
        the way to know an outage is over before the partitions are resumed."""
        try:
            self.client.execute("SELECT 1")
        except (DriverError, OSError, EOFError) as e:
            raise UnavailableError(f"ClickHouse does not answer: {e}") from e

    def _select(
        self, table: Table[Any], query: str, params: dict[str, Any] | None, **kwargs: Any
    ) -> list[Any]:
        try:
            rows: list[Any] = self.client.execute(query.format(db=self.db), params, **kwargs)
        except (DriverError, OSError, EOFError) as e:
            raise UnavailableError(f"cannot read {self.db}.{table.name}: {e}") from e
        return rows

    def _insert(self, buffer: TableBuffer) -> None:
        """Insert the buffer's rows; when ClickHouse refuses them for their content, insert
        each half on its own, down to the single rows it refuses, which are dead-lettered."""
        n = len(buffer.rows)
        landed = bytearray(n)
        refused: list[tuple[int, str]] = []
        work = [(0, n)]
        try:
            while work:
                lo, hi = work.pop()
                refusal = self._try_insert(buffer, lo, hi)
                if refusal is None:
                    ids = buffer.batch if hi - lo == n else buffer.ids[lo:hi]
                    buffer.recent.extend(ids, time.time())  # after every row's ingest time
                    buffer.written += hi - lo
                    buffer.inserts += 1
                    landed[lo:hi] = b"\1" * (hi - lo)
                elif hi - lo > 1:
                    mid = (lo + hi) // 2
                    work += [(mid, hi), (lo, mid)]
                else:
                    refused.append((lo, refusal))
        except UnavailableError:
            # What landed is remembered and goes; what was refused is found again next time.
            buffer.keep(i for i in range(n) if not landed[i])
            raise
        letters = [(buffer.sources[i], buffer.ids[i], why) for i, why in refused]
        buffer.clear()
        for source, event_id, why in letters:
            buffer.unwritable += 1
            if source is None:
                log.error("ClickHouse refuses the sink's own dead letter %s: %s", event_id, why)
                continue
            table = buffer.table.name
            self._dead_letter(
                source,
                "unwritable_row",
                f"ClickHouse refuses this {source.topic} record's {table} row: {why}",
                datetime.now(UTC).replace(microsecond=0),
            )

    def _try_insert(self, buffer: TableBuffer, lo: int, hi: int) -> str | None:
        """Insert rows ``lo:hi``: None when they landed, or why ClickHouse refused them."""
        rows = buffer.rows if hi - lo == len(buffer.rows) else buffer.rows[lo:hi]
        try:
            self.client.execute(buffer.table.insert.format(db=self.db), rows)
        except Exception as e:
            if rows_at_fault(e):
                return reason(e)
            buffer.unsure = True
            raise UnavailableError(f"cannot insert into {self.db}.{buffer.table.name}: {e}") from e
        return None
