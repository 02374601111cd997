"""``channelhub simulate``: plan the simulated time window, pace, produce, report.

Two phases are possible. *History* (``--backfill-hours`` or ``--events`` alone) is generated
as fast as the output takes it, or at ``--rate`` events per second of wall time. *Live*
(``--live``) follows the wall clock until ``--events`` or SIGINT/SIGTERM: at the population's
own rate, so live traffic continues the history's curve, or scaled to ``--rate`` events per
second; a scaled rate builds up over the first few minutes, as a call's events span minutes
after it starts. Either way the last line on
standard output is the JSON summary of what was delivered.

Producing to Kafka, every hall follows the live service catalogue (``channel.catalogue``),
read again every ``rules_reload_seconds``: what it opened gets a share of the traffic, and
what it retired is still asked for from habit and not served. A code retired there is
answered as unknown from then on (:mod:`channelhub.simulator.sms`); retired keys lead callers
to an agent and opened items are pressed (:mod:`channelhub.simulator.ivr`); a retired web or
WAP function's page offers nothing (:mod:`channelhub.simulator.web`), and a retired kiosk
service is not completed (:mod:`channelhub.simulator.kiosk`). An ndjson run, the
recomputations of the tests, answers from today's static catalogue.

Where the simulated clock starts:

- ``--start`` if given (then the stream is reproducible byte for byte with ``--seed``);
- else ``now - backfill hours`` with ``--backfill-hours``;
- else, for a live run, now;
- else (``--events`` only) far enough back that the traffic of the requested number of events
  ends just before now (the load model's rate, walked back from now, with a margin for
  chance): an event stamped later than the validator's clock skew allows is refused.
"""

import itertools
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from channelhub.catalogue.store import follower
from channelhub.simulator.catalog import KIOSK_SERVICES, WAP_FUNCTIONS, WEB_FUNCTIONS
from channelhub.simulator.engine import Engine, Scenario
from channelhub.simulator.ids import iso
from channelhub.simulator.ivr import Opened
from channelhub.simulator.load import HOUR_MS, LoadModel
from channelhub.simulator.offered import Functions
from channelhub.simulator.output import KafkaOutput, NdjsonOutput, Output
from channelhub.simulator.sms import Offer
from channelhub.simulator.summary import Tally
from kernel.clock import to_ms
from kernel.errors import ConfigError, ServiceError
from kernel.settings import Settings
from orchestration.catalogue import Catalogue

OUTPUTS = ("kafka", "ndjson")
_MAX_SLEEP_S = 0.25  # sleep in slices so a signal is noticed quickly


@dataclass(frozen=True)
class RunOptions:
    seed: int = 0
    events: int | None = None
    rate: float = 0.0
    bad_fraction: float = 0.0
    backfill_hours: float | None = None
    live: bool = False
    subscribers: int = 100_000
    start: datetime | None = None
    output: str = "kafka"  # or "ndjson"
    file: Path | None = None
    progress_seconds: float = 5.0


@dataclass(frozen=True)
class Plan:
    """The simulated time window of a run (milliseconds since the epoch)."""

    start_ms: int
    history_end_ms: int | None  # stop here unless live
    live_from_ms: int | None
    live_rate: float
    #: Live pacing: an event is due at wall time ``t_ms + offset``; None means "when the live
    #: phase begins, align the live start with the wall clock" (a fixed ``--start``).
    live_offset_ms: int | None


def plan(options: RunOptions, now_ms: int) -> Plan:
    """Check the options and work out the window; pure, for tests."""
    if options.events is None and options.backfill_hours is None and not options.live:
        raise ConfigError("nothing bounds the run: give --events N, --backfill-hours H or --live")
    if options.events is not None and options.events < 1:
        raise ConfigError(f"--events must be at least 1, got {options.events}")
    if not 0.0 <= options.bad_fraction <= 1.0:
        raise ConfigError(f"--bad-fraction must be within 0..1, got {options.bad_fraction}")
    if options.rate < 0:
        raise ConfigError(f"--rate must not be negative, got {options.rate}")
    if options.backfill_hours is not None and options.backfill_hours <= 0:
        raise ConfigError(f"--backfill-hours must be positive, got {options.backfill_hours}")
    if options.output not in OUTPUTS:
        raise ConfigError(f"--output must be one of {', '.join(OUTPUTS)}, got {options.output!r}")
    if options.subscribers < 1:
        raise ConfigError(f"--subscribers must be at least 1, got {options.subscribers}")

    hours = options.backfill_hours
    if options.start is not None:
        start = to_ms(options.start)
    elif hours is not None:
        start = now_ms - int(hours * HOUR_MS)
    elif options.live:
        start = now_ms
    else:
        start = _ending_before(options, now_ms - _history_ms(options, now_ms), now_ms)
    history_end = start + int(hours * HOUR_MS) if hours is not None else None
    live_from = (history_end if history_end is not None else start) if options.live else None
    return Plan(
        start_ms=start,
        history_end_ms=history_end,
        live_from_ms=live_from,
        live_rate=options.rate,
        live_offset_ms=None if options.start is not None else 0,
    )


#: Step of the walk back from now in :func:`_history_ms`.
_STEP_MS = 60_000


def _history_ms(options: RunOptions, now_ms: int) -> int:
    """How far back from now the traffic of ``options.events`` events must start to end
    before now: the load model's own rate, minute by minute backwards from now, until it
    expects the events plus three standard deviations of their count (a Poisson stream's),
    so that chance almost never carries the last events past the clock, where the validator
    refuses anything stamped further ahead than the allowed skew (``in_future``)."""
    load = LoadModel(options.subscribers)
    valid = (options.events or 0) * (1 - options.bad_fraction)
    needed = valid + 3 * math.sqrt(valid)
    expected, back = 0.0, 0
    while expected < needed:
        back += _STEP_MS
        expected += load.event_rate(now_ms - back) * _STEP_MS / 1000
    return back


#: How far before now the traffic of ``--events`` alone must end.
_END_MARGIN_MS = 60_000


def _ending_before(options: RunOptions, start_ms: int, now_ms: int) -> int:
    """``start_ms`` moved back until the ``options.events`` events it starts really end a
    minute before now. The load model's estimate (:func:`_history_ms`) is only an average:
    sessions started late in a thin night hour emit their events long after it, which carried
    a quarter of the traffic past the clock. The engine is deterministic, so a dry run says
    where the events end; moving the start also moves the hours they fall in, hence a few
    rounds."""
    for _ in range(8):
        engine = Engine(
            Scenario(
                seed=options.seed,
                start_ms=start_ms,
                subscribers=options.subscribers,
                bad_fraction=options.bad_fraction,
            )
        )
        last = max(e.t_ms for e in itertools.islice(engine, options.events or 0))
        over = last - (now_ms - _END_MARGIN_MS)
        if over <= 0:
            break
        start_ms -= over
    return start_ms


class _Stop:
    """Set by SIGINT/SIGTERM: the run finishes the current event, flushes and reports."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


@contextmanager
def _signals(stop: _Stop) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Pacer:
    """Holds events back to the wall clock: a fixed rate for history, real time when live."""

    def __init__(self, the_plan: Plan, history_rate: float, stop: _Stop) -> None:
        self._plan = the_plan
        self._history_rate = history_rate
        self._stop = stop
        self._began = time.monotonic()
        self._live_offset_ms = the_plan.live_offset_ms

    def wait(self, t_ms: int, produced: int) -> None:
        live_from = self._plan.live_from_ms
        if live_from is not None and t_ms >= live_from:
            if self._live_offset_ms is None:
                self._live_offset_ms = int(time.time() * 1000) - live_from
            due_s = (t_ms + self._live_offset_ms) / 1000
            self._sleep_until(lambda: due_s - time.time())
        elif self._history_rate and live_from is None:
            due = self._began + produced / self._history_rate
            self._sleep_until(lambda: due - time.monotonic())

    def _sleep_until(self, remaining: Callable[[], float]) -> None:
        left = remaining()
        while left > 0 and not self._stop.requested:
            time.sleep(min(left, _MAX_SLEEP_S))
            left = remaining()


def _open_output(settings: Settings, options: RunOptions) -> Output:
    if options.output == "ndjson":
        return NdjsonOutput(options.file)
    return KafkaOutput(settings)


def run(
    settings: Settings,
    options: RunOptions,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    output: Output | None = None,
) -> dict[str, Any]:
    """Simulate, print progress to ``stderr`` and the summary as the last line of ``stdout``.

    Raises the output's DeliveryError after printing the summary if the broker refused events
    (the summary then counts only the acknowledged ones).
    """
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    the_plan = plan(options, int(time.time() * 1000))
    engine = Engine(
        Scenario(
            seed=options.seed,
            start_ms=the_plan.start_ms,
            subscribers=options.subscribers,
            bad_fraction=options.bad_fraction,
            live_from_ms=the_plan.live_from_ms,
            live_rate=the_plan.live_rate,
        )
    )
    sink = output or _open_output(settings, options)
    tally = Tally(options.seed)
    stop = _Stop()
    follow = _Following(settings, engine, stderr) if isinstance(sink, KafkaOutput) else None
    with _signals(stop):
        try:
            _produce(engine, sink, tally, the_plan, options, stop, stderr, follow)
        finally:
            if follow is not None:
                follow.close()
            error = sink.finish()
    for label in sink.undelivered:
        tally.retract(label)
    summary = tally.summary()
    print(json.dumps(summary), file=stdout, flush=True)
    if error is not None:
        raise error
    return summary


def follow_catalogue(engine: Engine, catalogue: Catalogue) -> None:
    """Swap what every hall of ``engine`` offers for what ``catalogue`` holds open."""
    engine.sms.offer = Offer.of(catalogue)
    engine.ivr.removed = frozenset(r.slot for r in catalogue.retired() if r.channel == "ivr")
    engine.ivr.opened = Opened.of(catalogue)
    engine.web.functions = Functions.of(catalogue, "web", WEB_FUNCTIONS)
    engine.wap.functions = Functions.of(catalogue, "wap", WAP_FUNCTIONS)
    engine.kiosk.functions = Functions.of(catalogue, "kiosk", KIOSK_SERVICES)


class _Following:
    """Swaps what the halls offer for the live catalogue's every ``every_s`` of wall time."""

    def __init__(self, settings: Settings, engine: Engine, stderr: TextIO) -> None:
        self._follower = follower(settings, "channelhub-simulator-catalogue")
        self._engine, self._stderr = engine, stderr
        self.every_s = settings.rules_reload_seconds
        self.due = 0.0

    def __call__(self, now: float) -> None:
        if now < self.due:
            return
        self.due = now + self.every_s
        try:
            catalogue = self._follower.refresh()
        except ServiceError as e:
            print(f"simulate: catalogue not refreshed, the halls keep their offer: {e}",
                  file=self._stderr, flush=True)  # fmt: skip
            return
        follow_catalogue(self._engine, catalogue)

    def close(self) -> None:
        self._follower.close()


def _produce(
    engine: Engine,
    sink: Output,
    tally: Tally,
    the_plan: Plan,
    options: RunOptions,
    stop: _Stop,
    stderr: TextIO,
    follow: Callable[[float], None] | None = None,
) -> None:
    limit = options.events
    history_end = None if options.live else the_plan.history_end_ms
    pacer = _Pacer(the_plan, options.rate, stop)
    write, count = sink.write, tally.count
    last_report, reported = time.monotonic(), 0
    if follow is not None:
        follow(last_report)
    for produced, item in enumerate(engine, 1):
        if history_end is not None and item.t_ms > history_end:
            break
        pacer.wait(item.t_ms, produced - 1)
        if stop.requested:
            break
        write(item)
        count(item.label, item.valid, item.t_ms)
        if produced == limit:
            break
        now = time.monotonic()
        if follow is not None:
            follow(now)
        if now - last_report >= options.progress_seconds:
            rate = (produced - reported) / (now - last_report)
            last_report, reported = now, produced
            print(
                f"simulate: {produced:,} events, {rate:,.0f}/s, simulated clock {iso(item.t_ms)}",
                file=stderr,
                flush=True,
            )
