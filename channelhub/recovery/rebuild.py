"""``channelhub rebuild``: replay the topics into fresh tables and swap them in.

Every table is a projection of a topic, so after a fix to a table's rows (or to find out
whether the tables still match their topics) it can be made again from scratch:

1. **Fresh database** ``<db>_rebuild_<stamp>``, with every migration applied.
2. **Replay** every topic the sink routes, from its first record to the end it has *now*
   (exact end offsets, :mod:`channelhub.recovery.topics`), with the sink's own stage
   (:class:`sinks.stage.SinkStage`, a group of its own) into the fresh database. Records past that
   end are left to the running sink.
3. **Settle**: wait until the running sink's group has committed those ends too, so it will
   never write a record the replay wrote (its memory of written ids would not know them).
4. **Compare**: a row of the live tables that the replay does not have, and that was written
   before the rebuild started, is one the topics no longer hold (the local broker keeps its
   topics in memory; a real one has retention). Any such row stops the rebuild unless
   ``--force``: the swap would drop it from the live tables.
5. **Swap**: one ``RENAME TABLE`` moves each live table to ``<db>_before_rebuild_<stamp>`` and
   the rebuilt one into its place. The materialized view that keeps ``events_per_minute``
   stays in ``<db>``: ClickHouse 18.16 binds a view to its source and target tables by name, so
   it feeds the rebuilt ``events`` and ``events_per_minute`` from the swap on (it is created
   again if a server does not keep it). Views over tables (``nudge_uplift``, ``campaigns``)
   are by name too. The emptied rebuild database, holding only its own copy of the views, is
   dropped. RENAME is atomic per table, not for the set: ``events_per_minute`` is renamed
   right after ``events``, but a batch the running sink inserts between the two is counted
   in the old ``events_per_minute``. Rebuild while no traffic arrives when that matters.
6. **Catch up**: rows the running sink wrote into the old tables while the rebuild ran that
   are still missing (records past the replayed ends, written before the swap) are copied
   into the new tables; inserting them into ``events`` counts them in ``events_per_minute``.

The old tables stay in ``<db>_before_rebuild_<stamp>`` for the operator to check and drop.
"""

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clickhouse_driver import Client
from kafka import TopicPartition
from kafka.errors import KafkaError

from channelhub.recovery import topics
from kernel import kafka
from kernel.errors import ChannelhubError, ServiceError, StorageError
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect, database_name, storage_errors
from sinks.routes import routes
from sinks.stage import SinkStage
from sinks.tables import Table, events
from sinks.writer import Message, Sink

log = logging.getLogger(__name__)

PER_MINUTE = "events_per_minute"
PROGRESS_SECONDS = 5.0


class RebuildError(ChannelhubError):
    """The replay would lose rows, or the running sink did not settle; nothing was swapped."""


@dataclass
class TableCounts:
    before: int  # distinct ids in the live table when compared (events_per_minute: events)
    rebuilt: int  # distinct ids the replay wrote
    lost: int = 0  # live rows older than the rebuild that the replay does not have
    caught_up: int = 0  # rows copied from the old table after the swap
    after: int = 0  # distinct ids in the live table after the swap and catch-up


@dataclass
class Summary:
    database: str
    rebuilt_from: str
    kept_in: str
    records: int = 0
    tables: dict[str, TableCounts] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "kept_in": self.kept_in,
            "drop_when_checked": f"DROP DATABASE {self.kept_in}",
            "records_replayed": self.records,
            "tables": {name: vars(c) for name, c in self.tables.items()},
        }


def rebuild(
    settings: Settings,
    *,
    force: bool = False,
    settle_seconds: float = 60.0,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> Summary:
    """Replay, compare, swap and catch up (see the module docstring)."""
    db = database_name(settings)
    started = datetime.now(UTC).replace(microsecond=0)
    stamp = started.strftime("%Y%m%d%H%M%S")
    fresh = settings.model_copy(
        update={
            "clickhouse_database": f"{db}_rebuild_{stamp}",
            "group_prefix": f"{settings.group_prefix}-rebuild-{stamp}",
        }
    )
    summary = Summary(db, database_name(fresh), f"{db}_before_rebuild_{stamp}")
    tables = list(routes(settings).values())
    client = connect(settings)
    try:
        migrations.migrate(settings)  # every table the replay fills exists live too
        try:
            migrations.migrate(fresh)
            progress(f"created {summary.rebuilt_from} with every migration")
            ends = _replay(settings, fresh, summary, progress)
            _settle(settings, ends, settle_seconds, progress)
            _compare(client, summary, tables, started, force=force)
        except BaseException:
            _drop(client, summary.rebuilt_from)
            progress(f"dropped {summary.rebuilt_from}; the live tables are unchanged")
            raise
        _swap(client, summary, tables)
        progress(f"swapped; the old tables are in {summary.kept_in}")
        _catch_up(client, summary, tables, started)
        _count_after(client, summary, tables)
    finally:
        client.disconnect()
    return summary


class _ReplaySink(Sink):
    """The sink, bounded: it writes records below ``ends`` and says when it has them all."""

    def __init__(self, settings: Settings, ends: dict[TopicPartition, int]) -> None:
        super().__init__(settings)
        self.ends = ends
        self.positions: dict[TopicPartition, int] = {}
        self.records = 0

    def add(self, fetched: Mapping[TopicPartition, Sequence[Message]]) -> None:
        bounded = {
            tp: kept
            for tp, records in fetched.items()
            if (kept := [r for r in records if r.offset < self.ends.get(tp, 0)])
        }
        super().add(bounded)
        for tp, records in bounded.items():
            self.positions[tp] = records[-1].offset + 1
            self.records += len(records)

    def caught_up(self) -> bool:
        return all(self.positions.get(tp, 0) >= end for tp, end in self.ends.items())


def _replay(
    settings: Settings, fresh: Settings, summary: Summary, progress: Callable[[str], None]
) -> dict[TopicPartition, int]:
    """Run the sink over every routed topic up to its end now; return those ends."""
    reader = topics.consumer(settings.kafka_bootstrap, "channelhub-rebuild")
    try:
        tps = topics.partitions(reader, list(routes(settings)))
        ends = topics.end_offsets(reader, tps)
        starts = topics.listed_offsets(reader, tps, earliest=True)
    except KafkaError as e:
        raise ServiceError(f"the broker at {settings.kafka_bootstrap} failed: {e}") from e
    finally:
        reader.close()
    todo = {tp: end for tp, end in ends.items() if end > starts[tp]}
    total = sum(end - starts[tp] for tp, end in todo.items())
    progress(f"replaying {total} record(s) of {len(routes(settings))} topics")
    sink = _ReplaySink(fresh, todo)
    last = time.monotonic()

    def done() -> bool:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_SECONDS:
            progress(f"replayed {sink.records} of {total} record(s)")
            last = time.monotonic()
        return sink.caught_up()

    try:
        asyncio.run(SinkStage(fresh, sink=sink).run_until(done))
    finally:
        sink.client.disconnect()
    if not sink.caught_up():
        raise RebuildError("the replay was interrupted before it reached the end")
    if sink.buffered:
        raise RebuildError(f"ClickHouse did not take {sink.buffered} replayed row(s)")
    summary.records = sink.records
    progress(f"replayed {sink.records} record(s): {sink.progress()}")
    return ends


def _settle(
    settings: Settings,
    ends: dict[TopicPartition, int],
    timeout: float,
    progress: Callable[[str], None],
) -> None:
    """Wait until the running sink's group has committed ``ends`` (see the module)."""
    group = f"{settings.group_prefix}-sink"
    deadline = time.monotonic() + timeout
    behind: dict[TopicPartition, int] = {}
    try:
        admin = kafka.admin(settings.kafka_bootstrap, "channelhub-rebuild")
    except KafkaError as e:
        raise ServiceError(f"cannot reach the broker at {settings.kafka_bootstrap}: {e}") from e
    try:
        while True:
            committed = {
                tp: meta.offset
                for tp, meta in admin.list_group_offsets(group).get(group, {}).items()
            }
            behind = {tp: end for tp, end in ends.items() if committed.get(tp, 0) < end}
            if not behind:
                progress(f"the sink ({group}) has written everything replayed")
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
    except KafkaError as e:
        raise ServiceError(f"cannot read the offsets of group {group}: {e}") from e
    finally:
        admin.close()
    where = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(behind)[:5])
    raise RebuildError(
        f"the sink ({group}) has not written everything replayed after {timeout:.0f} s "
        f"(behind on {where}); start it or let it catch up, then run the rebuild again"
    )


def _scalar(client: Client, query: str, params: dict[str, Any] | None = None) -> int:
    with storage_errors("cannot count rows for the rebuild"):
        ((value,),) = client.execute(query, params or {})
    return int(value or 0)


def _compare(
    client: Client, summary: Summary, tables: list[Table[Any]], started: datetime, *, force: bool
) -> None:
    """Count each table old and rebuilt; refuse when the rebuilt one would lose rows."""
    db, fresh = summary.database, summary.rebuilt_from
    for table in tables:
        name, key = table.name, table.id_column
        summary.tables[name] = TableCounts(
            before=_scalar(client, f"SELECT uniqExact({key}) FROM {db}.{name}"),
            rebuilt=_scalar(client, f"SELECT uniqExact({key}) FROM {fresh}.{name}"),
            lost=_scalar(
                client,
                f"SELECT uniqExact({key}) FROM {db}.{name} "
                f"WHERE ingested_at < toDateTime(%(started)s) "
                f"AND {key} NOT IN (SELECT {key} FROM {fresh}.{name})",
                {"started": int(started.timestamp())},
            ),
        )
    summary.tables[PER_MINUTE] = TableCounts(
        before=_scalar(client, f"SELECT sum(events) FROM {db}.{PER_MINUTE}"),
        rebuilt=_scalar(client, f"SELECT sum(events) FROM {fresh}.{PER_MINUTE}"),
    )
    lost = {name: c.lost for name, c in summary.tables.items() if c.lost}
    if lost and not force:
        raise RebuildError(
            f"the topics no longer hold rows the live tables have ({lost}); the rebuild "
            "would drop them. --force swaps anyway, keeping them in the old tables"
        )


def _swap(client: Client, summary: Summary, tables: list[Table[Any]]) -> None:
    """Move the live tables out and the rebuilt ones in, in one statement."""
    db, fresh, kept = summary.database, summary.rebuilt_from, summary.kept_in
    names = [events.NAME, PER_MINUTE] + [t.name for t in tables if t is not events.TABLE]
    pairs = ", ".join(f"{db}.{n} TO {kept}.{n}, {fresh}.{n} TO {db}.{n}" for n in names)
    with storage_errors(f"cannot swap the rebuilt tables into {db}"):
        client.execute(f"CREATE DATABASE {kept}")
        client.execute(f"RENAME TABLE {pairs}")
        client.execute(events.CREATE_EVENTS_PER_MINUTE_MV.format(db=db))
    _drop(client, fresh)


def _catch_up(
    client: Client, summary: Summary, tables: list[Table[Any]], started: datetime
) -> None:
    """Copy the rows the running sink wrote into the old tables during the rebuild and the
    new ones lack: records past the replayed ends, written before the swap."""
    db, kept = summary.database, summary.kept_in
    for table in tables:
        name, key, columns = table.name, table.id_column, ", ".join(table.columns)
        missing = (
            f"FROM {kept}.{name} WHERE ingested_at >= toDateTime(%(started)s) "
            f"AND {key} NOT IN (SELECT {key} FROM {db}.{name})"
        )
        params = {"started": int(started.timestamp())}
        count = _scalar(client, f"SELECT uniqExact({key}) {missing}", params)
        if count:
            with storage_errors(f"cannot copy the rows written during the rebuild to {name}"):
                client.execute(
                    f"INSERT INTO {db}.{name} ({columns}) "
                    f"SELECT {columns} FROM (SELECT * {missing}) LIMIT 1 BY {key}",
                    params,
                )
        summary.tables[name].caught_up = count


def _count_after(client: Client, summary: Summary, tables: list[Table[Any]]) -> None:
    db = summary.database
    for table in tables:
        key = table.id_column
        summary.tables[table.name].after = _scalar(
            client, f"SELECT uniqExact({key}) FROM {db}.{table.name}"
        )
    summary.tables[PER_MINUTE].after = _scalar(client, f"SELECT sum(events) FROM {db}.{PER_MINUTE}")


def _drop(client: Client, database: str) -> None:
    try:
        with storage_errors(f"cannot drop {database}"):
            client.execute(f"DROP DATABASE IF EXISTS {database}")
    except StorageError as e:
        log.error("%s; drop it by hand", e)
