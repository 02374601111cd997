"""The sink's row building, with and without scrubbing subscriber numbers out of its strings.

Every string the sink stores goes through the number scrubber (:mod:`kernel.scrub`, from
:meth:`sinks.tables.Table.row`). This prints what that costs on the sink's busiest table:
simulated events, decoded as the sink decodes them, turned into ``events`` rows in one process,
first as the sink does it, then with a scrubber that returns its text unchanged (the
reference), both in the same run, best of ``--repeat``, and the ratio of the two.

    .venv/bin/python bench/rows.py --events 60000
"""

import sys
import time
from datetime import UTC, datetime
from itertools import islice
from typing import Annotated

import msgspec
import typer

from channelhub.simulator.engine import Engine, Scenario
from kernel.pseudonym import Pseudonymizer
from schemas import Event, Rejection, validate
from sinks.tables import events


def _events(n: int, seed: int) -> list[Event]:
    """``n`` valid simulated events, decoded into their structs as the sink decodes them."""
    start = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)
    decoded = []
    for emitted in islice(Engine(Scenario(seed=seed, start_ms=start)), n):
        event = validate(emitted.payload)
        if not isinstance(event, Rejection):
            decoded.append(msgspec.json.decode(msgspec.json.encode(event), type=Event))
    return decoded


def _rate(decoded: list[Event], ring: Pseudonymizer, repeat: int) -> float:
    """Rows per second, best of ``repeat``."""
    now = datetime.now(UTC)
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for i, event in enumerate(decoded):
            events.TABLE.row(event, partition=0, offset=i, ingested_at=now, pseudonymize=ring)
        best = min(best, time.perf_counter() - started)
    return len(decoded) / best


def main(
    n: Annotated[int, typer.Option("--events", min=1000, help="Simulated events")] = 60_000,
    repeat: Annotated[int, typer.Option(min=1, help="Runs of each; the best counts")] = 3,
    seed: Annotated[int, typer.Option(help="Simulator seed")] = 1,
) -> None:
    """Print events rows per second with scrubbing, without it, and the ratio."""
    print(f"generating {n:,} simulated events ...", file=sys.stderr)
    decoded = _events(n, seed)
    ring = Pseudonymizer(b"a benchmark key of thirty-two bytes")
    scrubbed = _rate(decoded, ring, repeat)
    ring.scrub = lambda text: text  # the reference: the same rows, nothing searched
    unscrubbed = _rate(decoded, ring, repeat)
    print(f"events rows, {len(decoded):,} of them, best of {repeat}:")
    print(f"  scrubbed      {scrubbed:>10,.0f} rows/s")
    print(f"  not scrubbed  {unscrubbed:>10,.0f} rows/s   (reference)")
    print(f"  ratio         {scrubbed / unscrubbed:>10.2f}")


if __name__ == "__main__":
    typer.run(main)
