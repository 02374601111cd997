"""Pipeline benchmark: producer → broker → worker → sink → queryable in ClickHouse.

Starts its own broker, ClickHouse, validation and nudge workers and sink (as ``channelhub up``)
in a temporary state folder on free ports, pre-generates simulator events (so generation is
not measured), then runs two phases and prints their figures:

1. throughput: produce N events as fast as the producer goes; sustained events/s is N over the
   time from the first send until all N are counted in ``channelhub.events``;
2. latency: produce M events paced at R events/s; each event's latency is the time from its
   send until the first poll (every 50 ms) that counts at least that many rows. Partitions
   interleave, so per-event figures are approximate to a batch; the percentiles are sound.

    .venv/bin/python bench/pipeline.py --events 300000 --latency-events 60000 --rate 5000
"""

import statistics
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer

from channelhub.ingest.producer import Producer
from channelhub.platform import broker, clickhouse
from channelhub.platform.health import tcp_open
from channelhub.platform.isolated import isolated_settings, start_in_order
from channelhub.platform.process import stop_all
from channelhub.platform.stack import python_service
from channelhub.simulator.engine import Engine, Scenario
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect


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


@app.command(help=__doc__.split("\n\n")[0])
def main(
    events: Annotated[int, typer.Option(help="Throughput phase size.")] = 300_000,
    latency_events: Annotated[int, typer.Option(help="Latency phase size.")] = 60_000,
    rate: Annotated[float, typer.Option(help="Latency phase events/s.")] = 5_000,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 1,
) -> None:
    state = Path(tempfile.mkdtemp(prefix="channelhub-bench-"))
    settings = isolated_settings(state, clickhouse_database="bench", log_level="WARNING")
    total = events + latency_events
    print(f"generating {total} events (seed {seed}) ...", file=sys.stderr)
    engine = Engine(Scenario(seed=seed, start_ms=1_795_000_000_000))
    generated = [(e.key, e.payload) for e in islice(engine, total)]
    print(f"state in {state}; starting broker, ClickHouse, workers, sink ...", file=sys.stderr)
    processes = start_in_order(
        [broker.spec(settings.kafka_bootstrap), clickhouse.spec(settings)], state
    )
    try:
        migrations.migrate(settings)
        names = [settings.topic_raw, settings.topic_events, settings.topic_dlq]
        broker.ensure_topics(settings.kafka_bootstrap, names, settings.topic_partitions)
        processes += start_in_order(
            [
                python_service(
                    settings, "worker", "streams", "--stage", "validate",
                    health=tcp_open("127.0.0.1", settings.worker_web_port),
                ),
                python_service(
                    settings, "nudger", "streams", "--stage", "nudges",
                    health=tcp_open("127.0.0.1", settings.nudger_web_port),
                ),
                python_service(settings, "sink", "sinks", min_uptime=3.0),
            ],
            state,
        )  # fmt: skip
        counter = Counter(settings)
        counter.start()
        with Producer(settings.kafka_bootstrap, settings.topic_raw) as producer:
            print(f"throughput phase: {events} events, unpaced", file=sys.stderr)
            began = time.perf_counter()
            for key, value in generated[:events]:
                producer.send(key, value)
            producer.flush()
            produced = time.perf_counter()
            done = counter.wait_for(events, timeout=600)
            print(
                f"throughput: {events / (done - began):,.0f} events/s end to end "
                f"({events} events in {done - began:.1f} s; producer alone "
                f"{events / (produced - began):,.0f} events/s)"
            )

            print(f"latency phase: {latency_events} events at {rate:,.0f}/s",
                  file=sys.stderr)  # fmt: skip
            sent_at = []
            began = time.perf_counter()
            for i, (key, value) in enumerate(generated[events:]):
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
            f"latency at {rate:,.0f} events/s: p50 {quantiles[49]:.0f} ms, "
            f"p99 {quantiles[98]:.0f} ms, max {max(latencies):.0f} ms (event produced → "
            "counted in ClickHouse)"
        )
    finally:
        stop_all(list(reversed(processes)), grace=5)


if __name__ == "__main__":
    app()
