"""Nudge state at a province's size: bytes per subscriber, and the restore of 1M subscribers.

Folds ``--events`` of simulated traffic (the simulator's default population) through the
nudge core to get subscriber states of a realistic shape, then gives copies of them new
MSISDNs until there are ``--subscribers`` (1M), and writes them to the changelog topic of a
broker it starts (Tansu, on a free port, in a temporary folder) as the stage writes it:
record batches of 2,000 subscribers, each closed by a checkpoint, over 4 partitions. That is
the log a compacted changelog holds (one record per subscriber). It then times
:func:`streams.state_store.restore` reading it back, and prints, each beside its target and
the ratio:

1. the encoded state per subscriber (the changelog value and what the store holds), target
   300 bytes on average;
2. the Python memory the restored state takes per subscriber (its MSISDN key, its encoded
   state and its share of the dict holding them, by ``sys.getsizeof``);
3. the restore's wall time for all ``--subscribers``, target 30 s.

    .venv/bin/python bench/state.py --subscribers 1000000
"""

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from channelhub.platform import broker
from channelhub.platform.isolated import isolated_settings, start_in_order
from channelhub.platform.process import stop_all
from channelhub.simulator.engine import Engine, Scenario
from kernel import kafka
from kernel.clock import EPOCH
from orchestration.guardrails import TokenBucket
from orchestration.rules import load_shipped_rules
from schemas import Rejection, routing_key, validate
from streams.nudge_core import NudgeCore, PartitionNudges
from streams.nudges import partition_policy
from streams.produce import send_records
from streams.state_store import CHECKPOINT_KEY, Checkpoint, encode, restore

TARGET_BYTES, TARGET_RESTORE_S = 300, 30.0
PARTITIONS, BATCH = 4, 2_000

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def folded_states(events: int, seed: int) -> list[bytes]:
    """The encoded states of every subscriber after ``events`` of simulated traffic."""
    settings = isolated_settings(Path(tempfile.gettempdir()), topic_partitions=1)
    core = NudgeCore(rules=tuple(load_shipped_rules()), policy=partition_policy(settings))
    part = PartitionNudges()
    engine = Engine(Scenario(seed=seed, start_ms=1_780_000_000_000))
    batch = []
    for offset, emitted in enumerate(engine):
        if offset == events:
            break
        event = validate(emitted.payload)
        if not isinstance(event, Rejection) and routing_key(event):
            batch.append((offset, event))
        if len(batch) == BATCH:
            core.process(part, batch)
            batch = []
    core.process(part, batch)
    part.subscribers.flush()
    return list(part.subscribers.encoded.values())


async def write_changelog(bootstrap: str, topic: str, states: list[bytes], count: int) -> None:
    producer = kafka.producer(isolated_settings(Path(tempfile.gettempdir()),
                                                kafka_bootstrap=bootstrap))  # fmt: skip
    await producer.start()
    try:
        checkpoint = encode(
            Checkpoint(next_offset=1, watermark_ms=0, gateway=TokenBucket(), rate_queue=EPOCH)
        )
        pending = []
        for p in range(PARTITIONS):
            records: list[tuple[bytes | None, bytes | None]] = []
            for n in range(p, count, PARTITIONS):
                records.append((f"1{n:010d}".encode(), states[n % len(states)]))
                if len(records) == BATCH:
                    records.append((CHECKPOINT_KEY, checkpoint))
                    pending += await send_records(producer, topic, records, partition=p)
                    records = []
            records.append((CHECKPOINT_KEY, checkpoint))
            pending += await send_records(producer, topic, records, partition=p)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def timed_restore(bootstrap: str, topic: str) -> tuple[float, int, int]:
    """Restore every partition; return seconds, subscribers restored, bytes allocated."""
    producer = kafka.producer(isolated_settings(Path(tempfile.gettempdir()),
                                                kafka_bootstrap=bootstrap))  # fmt: skip
    await producer.start()
    try:
        began = time.perf_counter()
        restored = await restore(bootstrap, topic, list(range(PARTITIONS)), producer)
        took = time.perf_counter() - began
    finally:
        await producer.stop()
    stores = [p.subscribers.encoded for p in restored.values()]
    held = sum(
        sys.getsizeof(store) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in store.items())
        for store in stores
    )
    return took, sum(len(store) for store in stores), held


@app.command(help=__doc__.split("\n\n")[0])
def main(
    subscribers: Annotated[int, typer.Option(help="Subscribers in the changelog.")] = 1_000_000,
    events: Annotated[int, typer.Option(help="Simulated events folded for the shapes.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 3,
) -> None:
    print(f"folding {events:,} simulated events for realistic states ...", file=sys.stderr)
    states = folded_states(events, seed)
    sizes = [len(s) for s in states]
    mean = statistics.mean(sizes)
    print(
        f"encoded state: {mean:.0f} bytes per subscriber on average (p99 "
        f"{statistics.quantiles(sizes, n=100)[98]:.0f}, {len(states):,} subscribers folded); "
        f"target {TARGET_BYTES}, ratio {mean / TARGET_BYTES:.2f}"
    )
    state = Path(tempfile.mkdtemp(prefix="channelhub-bench-state-"))
    settings = isolated_settings(state, log_level="WARNING")
    processes = start_in_order([broker.spec(settings.kafka_bootstrap)], state)
    try:
        topic = settings.topic_nudges_state
        broker.ensure_topics(settings.kafka_bootstrap, [topic], PARTITIONS)
        print(f"writing {subscribers:,} subscribers' state to {topic} ...", file=sys.stderr)
        asyncio.run(write_changelog(settings.kafka_bootstrap, topic, states, subscribers))
        print("restoring ...", file=sys.stderr)
        took, restored, held = asyncio.run(timed_restore(settings.kafka_bootstrap, topic))
        if restored != subscribers:
            raise SystemExit(f"restored {restored:,} subscribers of {subscribers:,}")
        print(
            f"restored state in memory: {held / restored:.0f} bytes per subscriber (keys, "
            f"encoded states and their dicts; {held / 2**20:,.0f} MiB in all)"
        )
        print(
            f"restore of {restored:,} subscribers: {took:.1f} s; target {TARGET_RESTORE_S:.0f} "
            f"s, ratio {took / TARGET_RESTORE_S:.2f}"
        )
    finally:
        stop_all(processes, grace=5)


if __name__ == "__main__":
    app()
