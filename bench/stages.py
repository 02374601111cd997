"""Each stage's capacity alone, with 1 and 2 processes: the figures production sizing uses.

Starts its own broker and ClickHouse in a temporary state folder on free ports, pre-fills the
raw topic with ``--events`` simulated events, then runs each stage alone on its pre-filled
input, first with one process, then, under a fresh consumer group (and a fresh ClickHouse
database for the sink), with ``--workers`` processes:

- ``validate``: raw topic → canonical and dead-letter topics;
- ``nudges``: canonical topic → nudge topics and the state changelog (the shipped rules);
- ``sink``: canonical topic → ``events`` and its rollups in ClickHouse. It runs after the
  nudge stage and, as in production, reads every topic it routes, so it also writes what the
  nudge stage made of the same events (contacts, calls, dialogues, requests and decisions:
  some 0.9 records per event, written by both nudge runs; the second copy is dropped as
  duplicates). Its rate counts canonical events only: the sink's capacity per event of the
  whole platform, not per row.

A stage's rate is the records its group committed over the time from its first commit to its
last, read every 0.2 s (so start-up and the group's first join are not counted). Printed per
stage: events/s with one process, with ``--workers``, and the ratio of the two (how the stage
scales out on this machine's cores).

    .venv/bin/python bench/stages.py --events 300000 --workers 2
"""

import sys
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer
from kafka import TopicPartition

from channelhub.ingest.producer import Producer
from channelhub.platform import broker
from channelhub.platform.health import tcp_open
from channelhub.platform.isolated import free_port, isolated_settings, start_in_order
from channelhub.platform.process import ManagedProcess, ServiceSpec, stop_all
from channelhub.platform.stack import python_service, start_storage
from channelhub.recovery.topics import consumer, end_offsets, partitions
from channelhub.simulator.engine import Engine, Scenario
from kernel import kafka
from kernel.settings import Settings
from sinks import migrations

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

#: Stage → (its consumer group's suffix, the topic it reads).
STAGES = {"validate": ("validate", "raw"), "nudges": ("nudges", "events"),
          "sink": ("sink", "events")}  # fmt: skip


def spec(settings: Settings, stage: str, n: int) -> ServiceSpec:
    own = settings.model_copy(
        update={"worker_web_port": free_port(), "nudger_web_port": free_port()}
    )
    if stage == "sink":
        return python_service(own, f"sink-{n}", "sinks", min_uptime=3.0)
    port = own.worker_web_port if stage == "validate" else own.nudger_web_port
    return python_service(own, f"{stage}-{n}", "streams", "--stage", stage,
                          health=tcp_open("127.0.0.1", port))  # fmt: skip


def committed(settings: Settings, group: str, ends: dict[TopicPartition, int]) -> int:
    admin = kafka.admin(settings.kafka_bootstrap, "channelhub-bench")
    try:
        name = f"{settings.group_prefix}-{group}"
        offsets = admin.list_group_offsets(name)[name]
    finally:
        admin.close()
    return sum(min(offsets[tp].offset, end) for tp, end in ends.items() if tp in offsets)


def capacity(settings: Settings, stage: str, workers: int, state: Path) -> float:
    """Events/s of ``stage`` alone with ``workers`` processes over its whole input."""
    group, source = STAGES[stage]
    topic = settings.topic_raw if source == "raw" else settings.topic_events
    reader = consumer(settings.kafka_bootstrap, "channelhub-bench")
    ends = end_offsets(reader, partitions(reader, [topic]))
    reader.close()
    total = sum(ends.values())
    processes: list[ManagedProcess] = []
    try:
        processes = start_in_order([spec(settings, stage, n) for n in range(workers)], state)
        samples: list[tuple[float, int]] = []
        deadline = time.monotonic() + 900
        while not samples or samples[-1][1] < total:
            if time.monotonic() > deadline:
                raise SystemExit(f"{stage}: only {samples[-1][1]:,} of {total:,} in 900 s")
            samples.append((time.perf_counter(), committed(settings, group, ends)))
            time.sleep(0.2)
    finally:
        stop_all(list(reversed(processes)), grace=10)
    first = next(i for i, (_, n) in enumerate(samples) if n > 0)
    (t0, n0), (t1, n1) = samples[max(0, first - 1)], samples[-1]
    if t1 == t0:
        raise SystemExit(f"{stage}: all {total:,} records were done before the second sample; "
                         "give it more --events")  # fmt: skip
    return (n1 - n0) / (t1 - t0)


@app.command(help=__doc__.split("\n\n")[0])
def main(
    events: Annotated[int, typer.Option(help="Events pre-filled.")] = 300_000,
    workers: Annotated[int, typer.Option(min=2, max=4, help="Processes in the scaled run.")] = 2,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 1,
) -> None:
    state = Path(tempfile.mkdtemp(prefix="channelhub-bench-stages-"))
    settings = isolated_settings(state, clickhouse_database="stages1", log_level="WARNING")
    print(f"state in {state}; starting broker and ClickHouse ...", file=sys.stderr)
    processes = start_storage(settings)
    try:
        engine = Engine(Scenario(seed=seed, start_ms=1_795_000_000_000))
        print(f"pre-filling {settings.topic_raw} with {events:,} events ...", file=sys.stderr)
        with Producer(settings.kafka_bootstrap, settings.topic_raw) as producer:
            for emitted in islice(engine, events):
                producer.send(emitted.key, emitted.payload)
            producer.flush()
        rates: dict[str, list[float]] = {}
        for stage in STAGES:
            for n, prefix in ((1, "one"), (workers, "many")):
                # A fresh group, database and (for the scaled validation) output topics: each
                # run reads the same input and leaves the next stage's input as it was.
                changes: dict[str, object] = {
                    "group_prefix": f"bench-{prefix}",
                    "clickhouse_database": f"stages_{prefix}",
                    "topic_nudges_state": f"bench.nudges.state.{prefix}",
                }
                if stage == "validate" and n > 1:
                    changes |= {"topic_events": "bench.events.scaled",
                                "topic_dlq": "bench.dlq.scaled"}  # fmt: skip
                run = settings.model_copy(update=changes)
                broker.ensure_topics(run.kafka_bootstrap, broker.topic_names(run),
                                     run.topic_partitions)  # fmt: skip
                migrations.migrate(run)
                rate = capacity(run, stage, n, state)
                rates.setdefault(stage, []).append(rate)
                print(f"  {stage}, {n} process(es): {rate:,.0f} events/s", file=sys.stderr)
        print(f"{'stage':>9} {'1 process':>10} {f'{workers} processes':>12} {'ratio':>6}")
        for stage, (one, many) in rates.items():
            print(f"{stage:>9} {one:>10,.0f} {many:>12,.0f} {many / one:>6.2f}")
    finally:
        stop_all(list(reversed(processes)), grace=5)


if __name__ == "__main__":
    app()
