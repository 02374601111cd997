"""Pipeline benchmark: raw topic → validation → canonical topic → sink → queryable, with the
nudge stage running beside, against the machine's ceiling for the same path.

Starts its own broker and ClickHouse in a temporary state folder on free ports (removed
after a run that measured everything; a failed run keeps it, with the services' logs) and
pre-generates simulator events (so generation is not measured). Then, each figure printed
with its reference and the ratio:

1. producer: the N events written to the raw topic by the Python producer
   (:class:`channelhub.ingest.producer.Producer`), as fast as it goes, before any stage runs
   (reference: the 50,000 events/s target);
2. ceiling: one process in this benchmark reads the same pre-filled raw topic, decodes each
   event into its struct (no validation), builds its ``events`` row as the sink does and
   inserts the rows into a copy of the ``events`` table: no second hop, no other stage;
3. throughput: the validation and nudge stages and the sink (as ``channelhub up``, with
   ``--workers`` processes each) start on the pre-filled topic; the sustained rate is the
   rows counted in ``events`` from the first to the last, over that time (so start-up is not
   counted), printed against the ceiling and against the target;
4. latency: M more events produced at R events/s; each event's latency is the time from its
   send until the first poll (every 50 ms) that counts at least that many rows. Partitions
   interleave, so per-event figures are approximate to a batch; the percentiles are sound.

    .venv/bin/python bench/pipeline.py --events 300000 --latency-events 60000 --rate 10000
"""

import shutil
import statistics
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from channelhub.ingest.producer import Producer
from channelhub.platform.health import tcp_open
from channelhub.platform.isolated import free_port, isolated_settings, start_in_order
from channelhub.platform.process import ServiceSpec, stop_all
from channelhub.platform.stack import python_service, start_storage
from channelhub.recovery.topics import partitions
from channelhub.simulator.engine import Engine, Scenario
from kernel import kafka
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from schemas import Event
from sinks.client import connect
from sinks.tables import events as events_table


class Counter(threading.Thread):
    """Polls ``count()`` of the events table and keeps (time, count) samples."""

    def __init__(self, settings: Settings, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.client = connect(settings)
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            ((n,),) = self.client.execute("SELECT count() FROM events")
            self.samples.append((time.perf_counter(), n))
            time.sleep(self.every)

    def wait_for(self, n: int, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.samples and self.samples[-1][1] >= n:
                return self.samples[-1][0]
            time.sleep(0.01)
        raise SystemExit(f"only {self.samples[-1][1] if self.samples else 0} of {n} rows arrived")


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

TARGET_EVENTS_S, TARGET_FRESHNESS_MS = 50_000.0, 2_000.0
CEILING_BATCH = 20_000


def ceiling(settings: Settings, events: int) -> float:
    """Events/s of one process reading the raw topic, decoding, building rows, inserting."""
    client = connect(settings)
    client.execute("CREATE TABLE ceiling_events AS events")
    insert = events_table.TABLE.insert.format(db=settings.clickhouse_database).replace(
        ".events ", ".ceiling_events ", 1
    )
    ring = Pseudonymizer.from_settings(settings)
    decode = msgspec.json.Decoder(Event).decode
    reader = kafka.reader(settings.kafka_bootstrap, "bench-ceiling")
    tps = partitions(reader, [settings.topic_raw])
    reader.assign(tps)
    reader.seek_to_beginning()
    now = datetime.now(UTC)
    rows: list[tuple[object, ...]] = []
    done = 0
    began = time.perf_counter()
    while done < events:
        for tp, records in reader.poll(timeout_ms=500, max_records=CEILING_BATCH).items():
            for r in records:
                event = decode(r.value)
                _, row = events_table.TABLE.row(event, partition=tp.partition,
                                                offset=r.offset, ingested_at=now,
                                                pseudonymize=ring)  # fmt: skip
                rows.append(row)
            done += len(records)
        if len(rows) >= CEILING_BATCH or done >= events:
            client.execute(insert, rows)
            rows = []
    took = time.perf_counter() - began
    reader.close()
    ((n,),) = client.execute("SELECT count() FROM ceiling_events")
    if n != events:
        raise SystemExit(f"the ceiling run inserted {n} rows of {events}")
    return events / took


def stages(settings: Settings, workers: int) -> list[ServiceSpec]:
    """The validation and nudge stages and the sink, ``workers`` processes each."""
    specs = []
    for n in range(workers):
        own = settings.model_copy(
            update={"worker_web_port": free_port(), "nudger_web_port": free_port()}
        ) if n else settings  # fmt: skip
        specs += [
            python_service(
                own, f"worker-{n}", "streams", "--stage", "validate",
                health=tcp_open("127.0.0.1", own.worker_web_port),
            ),
            python_service(
                own, f"nudger-{n}", "streams", "--stage", "nudges",
                health=tcp_open("127.0.0.1", own.nudger_web_port),
            ),
            python_service(own, f"sink-{n}", "sinks", min_uptime=3.0),
        ]  # fmt: skip
    return specs


def sustained(samples: list[tuple[float, int]], total: int) -> tuple[float, float]:
    """Rows/s from the first sample with rows to the first with all ``total``, and its span."""
    first = next((t, n) for t, n in samples if n > 0)
    last = next((t, n) for t, n in samples if n >= total)
    return (last[1] - first[1]) / (last[0] - first[0]), last[0] - first[0]


@app.command(help=__doc__.split("\n\n")[0])
def main(
    events: Annotated[int, typer.Option(help="Throughput phase size.")] = 300_000,
    latency_events: Annotated[int, typer.Option(help="Latency phase size.")] = 60_000,
    rate: Annotated[float, typer.Option(help="Latency phase events/s.")] = 10_000,
    workers: Annotated[int, typer.Option(min=1, max=4, help="Processes per stage.")] = 1,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 1,
) -> None:
    state = Path(tempfile.mkdtemp(prefix="channelhub-bench-"))
    settings = isolated_settings(state, clickhouse_database="bench", log_level="WARNING")
    total = events + latency_events
    print(f"generating {total} events (seed {seed}) ...", file=sys.stderr)
    engine = Engine(Scenario(seed=seed, start_ms=1_795_000_000_000))
    generated = [(e.key, e.payload) for e in islice(engine, total) if e.valid]
    events = min(events, len(generated) - latency_events)
    total = events + latency_events
    print(f"state in {state}; starting broker and ClickHouse ...", file=sys.stderr)
    processes = start_storage(settings)
    try:
        with Producer(settings.kafka_bootstrap, settings.topic_raw) as producer:
            print(f"pre-filling {settings.topic_raw} with {events:,} events", file=sys.stderr)
            began = time.perf_counter()
            for key, value in generated[:events]:
                producer.send(key, value)
            producer.flush()
            produced = events / (time.perf_counter() - began)
            print(
                f"producer: {produced:,.0f} events/s into {settings.topic_raw}; target "
                f"{TARGET_EVENTS_S:,.0f}, ratio {produced / TARGET_EVENTS_S:.2f}"
            )
            print("ceiling: one process reading, decoding, inserting ...", file=sys.stderr)
            top = ceiling(settings, events)
            print(f"ceiling: {top:,.0f} events/s raw topic → ClickHouse in one process")

            print(f"starting the stages, {workers} process(es) each ...", file=sys.stderr)
            counter = Counter(settings)
            counter.start()
            processes += start_in_order(stages(settings, workers), state)
            counter.wait_for(events, timeout=900)
            through, span = sustained(counter.samples, events)
            print(
                f"throughput ({workers} worker(s) per stage): {through:,.0f} events/s sustained "
                f"raw topic → queryable ({span:.1f} s); ceiling {top:,.0f}, share "
                f"{through / top:.2f}; target {TARGET_EVENTS_S:,.0f}, ratio "
                f"{through / TARGET_EVENTS_S:.2f}"
            )

            print(f"latency phase: {latency_events} events at {rate:,.0f}/s",
                  file=sys.stderr)  # fmt: skip
            sent_at = []
            began = time.perf_counter()
            for i, (key, value) in enumerate(generated[events:total]):
                due = began + i / rate
                while (now := time.perf_counter()) < due:
                    time.sleep(min(due - now, 0.002))
                producer.send(key, value)
                sent_at.append(now)
            producer.flush()
            counter.wait_for(total, timeout=600)
        counter.stop.set()
        counter.join()
        times = [t for t, _ in counter.samples]
        counts = [n for _, n in counter.samples]
        latencies = []
        for i, sent in enumerate(sent_at):
            visible = times[bisect_left(counts, events + i + 1)]
            latencies.append((visible - sent) * 1000)
        quantiles = statistics.quantiles(latencies, n=100)
        print(
            f"freshness at {rate:,.0f} events/s: p50 {quantiles[49]:.0f} ms, "
            f"p99 {quantiles[98]:.0f} ms, max {max(latencies):.0f} ms (event produced → "
            f"counted in ClickHouse); target p99 {TARGET_FRESHNESS_MS:,.0f} ms, ratio "
            f"{quantiles[98] / TARGET_FRESHNESS_MS:.2f}"
        )
    finally:
        stop_all(list(reversed(processes)), grace=5)
    # Only a run that measured everything gets here: a failed one keeps the services' logs.
    shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    app()
