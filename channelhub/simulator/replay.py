"""A paced load: a pool of simulated events replayed at a fixed rate, as if live.

The benchmarks need an exact rate from the first second, where the live simulator builds up
over minutes, and generating events must not count against what is measured. So a pool of
simulator events is generated once, cut around each event's id and time, and replayed in a
loop with a fresh event id and the current time (plus ``offset_ms``) each: the nudge stage
decides in event time and drops old or repeated events as replays, so each copy must look
new.
"""

import time
import uuid
from datetime import datetime
from itertools import islice
from multiprocessing.synchronize import Event as ProcessEvent
from typing import NamedTuple

from channelhub.ingest.producer import Producer
from channelhub.simulator.engine import Engine, Scenario
from channelhub.simulator.ids import iso
from kernel.clock import to_ms


class Template(NamedTuple):
    """A simulator event cut around its event id and time, which each replay fills anew."""

    key: bytes
    head: bytes
    middle: bytes
    tail: bytes


def template(key: bytes, payload: bytes) -> Template:
    # JSON strings escape their quotes, so these markers can only be the fields themselves.
    start = payload.index(b'"event_id":"') + len(b'"event_id":"')
    at = payload.index(b'"occurred_at":"', start) + len(b'"occurred_at":"')
    end = payload.index(b'"', at)
    return Template(key, payload[:start], payload[start + 36 : at], payload[end:])


def paced(
    bootstrap: str, topic: str, rate: float, seed: int, offset_ms: int,
    pool_start: datetime, pool_size: int, ready: ProcessEvent, stop: ProcessEvent,
) -> None:  # fmt: skip
    """Run in its own process: build the pool, set ``ready``, then produce ``rate`` events/s
    to ``topic`` until ``stop`` is set."""
    engine = Engine(Scenario(seed=seed, start_ms=to_ms(pool_start)))
    pool = [template(e.key, e.payload) for e in islice(engine, pool_size)]
    run = uuid.uuid4().hex
    stem = f"{run[:8]}-{run[8:12]}-4{run[13:16]}-8{run[17:20]}-"  # + 12 hex digits per event
    with Producer(bootstrap, topic, client_id="bench-background") as producer:
        ready.set()
        began, sent = time.perf_counter(), 0
        while not stop.is_set():
            due = int((time.perf_counter() - began) * rate)
            if due <= sent:
                time.sleep(0.001)
                continue
            stamp = iso(int(time.time() * 1000) + offset_ms).encode()
            for n in range(sent, due):
                t = pool[n % pool_size]
                event_id = f"{stem}{n:012x}".encode()
                producer.send(t.key, b"".join((t.head, event_id, t.middle, stamp, t.tail)))
            sent = due
