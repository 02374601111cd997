"""What the materialized views on ``events`` cost the sink, and how the insert's size changes it.

Every insert into ``events`` runs each view over the inserted block and writes a new part of
each view's table: ClickHouse work on the sink's path, on the same cores as the stages. This
feeds the same simulated canonical events through the sink's own core (:class:`sinks.writer.Sink`,
decode, rows, dedupe, insert, without the broker) into four fresh databases of one
ClickHouse: with every view, and with the views dropped (the reference), each at two insert
sizes. It prints the time per event of each, the part of it spent in ClickHouse's calls (the
inserts, and the reads of the sink's dedupe memory), and the ratios, all from one run.

    .venv/bin/python bench/sink_views.py --events 100000
"""

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Annotated, NamedTuple

import msgspec
import typer
from aiokafka.structs import TopicPartition

from channelhub.platform import clickhouse
from channelhub.platform.isolated import isolated_settings, start_in_order
from channelhub.platform.process import stop_all
from channelhub.simulator.engine import Engine, Scenario
from kernel.settings import Settings
from schemas import Rejection, validate
from sinks import migrations
from sinks.client import connect
from sinks.writer import Sink

PARTITIONS = 4


class Record(NamedTuple):
    """A canonical-topic record as the sink reads it from the broker."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    value: bytes


def _records(settings: Settings, n: int, seed: int) -> list[Record]:
    """``n`` valid simulated events of the last week, encoded as the validation stage does."""
    start = datetime.now(UTC) - timedelta(days=7)
    engine = Engine(Scenario(seed=seed, start_ms=int(start.timestamp() * 1000)))
    offsets = [0] * PARTITIONS
    records: list[Record] = []
    for emitted in engine:
        event = validate(emitted.payload)
        if isinstance(event, Rejection):
            continue
        partition = len(records) % PARTITIONS
        stamp = int(event.occurred_at.timestamp() * 1000)
        value = msgspec.json.encode(event)
        records.append(Record(settings.topic_events, partition, offsets[partition], stamp, value))
        offsets[partition] += 1
        if len(records) == n:
            return records
    return records


def _blocks(records: list[Record], size: int) -> Iterator[dict[TopicPartition, list[Record]]]:
    """The records ``size`` at a time, grouped by partition as a fetch returns them."""
    for i in range(0, len(records), size):
        fetched: dict[TopicPartition, list[Record]] = {}
        for r in islice(records, i, i + size):
            fetched.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
        yield fetched


class Run(NamedTuple):
    per_event_us: float
    in_clickhouse_us: float


def _run(settings: Settings, records: list[Record], size: int, views: bool) -> Run:
    """Sink ``records`` into a fresh database, ``size`` per insert, with or without views."""
    migrations.migrate(settings)
    client = connect(settings)
    if not views:
        for (name,) in client.execute(
            "SELECT name FROM system.tables WHERE database = %(db)s "
            "AND engine = 'MaterializedView'",
            {"db": settings.clickhouse_database},
        ):
            client.execute(f"DROP TABLE {settings.clickhouse_database}.{name}")
    sink = Sink(settings)
    sink.assigned(TopicPartition(settings.topic_events, p) for p in range(PARTITIONS))
    waited = 0.0
    execute = sink.client.execute

    def timed(*args: object, **kwargs: object) -> object:
        nonlocal waited
        started = time.perf_counter()
        try:
            return execute(*args, **kwargs)
        finally:
            waited += time.perf_counter() - started

    sink.client.execute = timed  # type: ignore[method-assign]
    started = time.perf_counter()
    for fetched in _blocks(records, size):
        sink.add(fetched)
        if not sink.flush():
            raise RuntimeError("ClickHouse refused the benchmark's inserts")
    elapsed = time.perf_counter() - started
    ((rows,),) = client.execute("SELECT count() FROM events")
    if rows != len(records):
        raise RuntimeError(f"{rows:,} rows in events, {len(records):,} sunk")
    return Run(elapsed / len(records) * 1e6, waited / len(records) * 1e6)


def main(
    n: Annotated[int, typer.Option("--events", min=1000, help="Simulated events")] = 100_000,
    small: Annotated[int, typer.Option(min=100, help="Events per insert, the smaller")] = 2_000,
    large: Annotated[int, typer.Option(min=100, help="Events per insert, the larger")] = 20_000,
    seed: Annotated[int, typer.Option(help="Simulator seed")] = 1,
) -> None:
    """Print the sink's time per event with and without the views, at two insert sizes."""
    state = Path(tempfile.mkdtemp(prefix="channelhub-bench-sink-views-"))
    base = isolated_settings(state, clickhouse_database="views", log_level="WARNING")
    print(f"state in {state}; starting ClickHouse ...", file=sys.stderr)
    processes = start_in_order([clickhouse.spec(base)], state)
    try:
        print(f"generating {n:,} simulated events ...", file=sys.stderr)
        records = _records(base, n, seed)
        runs: dict[tuple[bool, int], Run] = {}
        for views in (True, False):
            for size in (small, large):
                db = f"{'views' if views else 'bare'}_{size}"
                print(f"  sinking into {db} ...", file=sys.stderr)
                settings = base.model_copy(update={"clickhouse_database": db})
                runs[views, size] = _run(settings, records, size, views)
        print(f"{len(records):,} events; sink core (decode, rows, dedupe, insert), one process")
        print(f"{'views':>6} {'per insert':>11} {'us/event':>9} {'in ClickHouse':>14}")
        for (views, size), run in runs.items():
            print(f"{'all' if views else 'none':>6} {size:>11,} {run.per_event_us:>9.1f} "
                  f"{run.in_clickhouse_us:>14.1f}")  # fmt: skip
        for size in (small, large):
            ratio = runs[True, size].per_event_us / runs[False, size].per_event_us
            print(f"with views / without, {size:,} per insert: {ratio:.2f}")
        ratio = runs[True, large].per_event_us / runs[True, small].per_event_us
        print(f"with views, {large:,} / {small:,} per insert: {ratio:.2f}")
    finally:
        stop_all(processes, grace=5)
        shutil.rmtree(state, ignore_errors=True)  # nothing in it is worth a second look


if __name__ == "__main__":
    typer.run(main)
