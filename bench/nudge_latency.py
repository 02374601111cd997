"""Nudge latency: a trigger event produced → its nudge on ``nudges.outbound``, under load.

Starts its own broker, ClickHouse, validation worker, nudge stage and sink (as ``channelhub
up`` runs them: ClickHouse and the sink are not on the nudge's path, but they share the
machine with it) in a temporary state folder on free ports. Per
background rate, a second process replays simulator events to the raw topic at that rate;
after a warm-up, trigger events go one at a time, each timed from its hand-over to the
producer until its nudge is read back from the outbound topic. The table also shows how far
each stage fell behind (end offsets minus committed offsets).

Background: simulator events generated before the clock starts (like ``bench/pipeline.py``:
generation is not measured, and the rate is exact from the first second, where the live
simulator builds up over minutes), replayed in a loop with fresh event ids and the current
time, since the nudge stage decides in event time and drops old or repeated events as replays.

Triggers: ``ivr.self_service_completed`` charges queries, which fire the shipped rule
``ivr.charges_sms_copy`` with no delay, each from its own subscriber in the 147 segment (never
in the simulated population, so no cap, journey or call of the background interferes) outside
the rule's holdout group; matched to nudges by ``nudge_id(rule, trigger event id)``. The rule
drops nudges in quiet hours (21:00-08:00 in Hunan): if the run could reach them, the shared
event clock runs behind the wall clock, at noon local time of the last day, which the stage
cannot tell from a live noon. The gateway rate limit is raised so no nudge waits for a token.

    .venv/bin/python bench/nudge_latency.py --rate 1000 --rate 10000 --triggers 1000
"""

import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from kafka import TopicPartition

from channelhub.ingest.producer import Producer
from channelhub.platform.health import tcp_open
from channelhub.platform.isolated import isolated_settings, start_in_order
from channelhub.platform.process import ManagedProcess, stop_all
from channelhub.platform.stack import python_service, start_storage
from channelhub.simulator.replay import paced
from kernel import kafka
from kernel.errors import ChannelhubError
from kernel.settings import Settings
from orchestration.guardrails.clock import LOCAL_TZ
from orchestration.guardrails.holdout import in_holdout
from orchestration.guardrails.quiet_hours import quiet_until
from orchestration.journey import Journey
from orchestration.rules import Rule, load_shipped_rules
from schemas.events import IvrSelfServiceCompleted, SelfServiceCompleted
from schemas.nudges import nudge_id

RULE_ID = "ivr.charges_sms_copy"
TARGET_RATE, TARGET_P99_MS = 10_000, 250.0
#: The longest a run may take: the event clock must stay outside quiet hours all along.
MAX_RUN = timedelta(hours=1)
#: Background events generated once and replayed: 20 s at 10k events/s before one repeats.
POOL_SIZE = 200_000
#: Where the simulated hours of the pool start: a Monday, 10:00 in Hunan, mid-month.
POOL_START = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)
#: A background short of this share of its rate is reported as not reached.
REACHED = 0.95
_encode = msgspec.json.Encoder().encode


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- what is sent ------------------------------------------------------------------------------


def _trigger(n: int, at: datetime) -> IvrSelfServiceCompleted:
    """A charges query by subscriber ``147<n>``, who exists only for the bench."""
    return IvrSelfServiceCompleted(
        event_id=str(uuid.uuid4()),
        schema_version=1,
        channel="ivr",
        occurred_at=at,
        msisdn=f"147{n:08d}",
        session_id=f"ivr-bench-{n:x}",
        prefecture="changsha",
        brand="gotone",
        attributes=SelfServiceCompleted("1-1", "query.realtime_charges", True),
    )


def _rule() -> Rule:
    """The shipped rule the triggers fire; refuse to measure if it no longer fires at once."""
    rule = next((r for r in load_shipped_rules() if r.id == RULE_ID), None)
    probe = _trigger(0, datetime.now(UTC))
    if rule is None or rule.delay or not rule.matches(probe, probe.event_type, Journey()):
        raise SystemExit(
            f"nudge_latency: the shipped rule {RULE_ID!r} is missing, delayed, or no longer fires "
            "on an IVR charges query; point the bench's trigger at a rule that fires at once"
        )
    return rule


def event_clock_offset(rule: Rule, now: datetime) -> timedelta:
    """How far the event clock is from the wall clock: 0 unless the run could meet the rule's
    quiet hours, then back to noon local time of the last day."""
    quiet = rule.guardrails.quiet_hours

    def clear(at: datetime) -> bool:
        return quiet is None or (
            quiet_until(quiet, at) is None and quiet_until(quiet, at + MAX_RUN) is None
        )

    if clear(now):
        return timedelta(0)
    local = now.astimezone(LOCAL_TZ)
    noon = local.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon > local:
        noon -= timedelta(days=1)
    if not clear(noon):
        raise SystemExit(f"nudge_latency: {RULE_ID}'s quiet hours cover noon; pick a time to run")
    return noon - local


# -- what is watched ---------------------------------------------------------------------------


class _Nudge(msgspec.Struct):
    nudge_id: str


class _Decided(msgspec.Struct):
    """What the bench reads of a ``streams.nudge_core.DecidedNudge`` record."""

    request: _Nudge


class Outbound(threading.Thread):
    """Reads the outbound topic from its end and notes when each awaited nudge arrives."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        # Tansu does not answer a waiting fetch as soon as data arrives: keep the wait short.
        self.consumer = kafka.reader(
            settings.kafka_bootstrap, "channelhub-bench", fetch_max_wait_ms=10
        )
        partitions = [
            TopicPartition(settings.topic_nudges_outbound, p)
            for p in range(settings.topic_partitions)
        ]
        self.consumer.assign(partitions)
        self.consumer.seek_to_end(*partitions)
        for tp in partitions:
            self.consumer.position(tp)  # resolve "end" now, before any trigger is sent
        self.awaited: set[str] = set()
        self.arrived: dict[str, float] = {}
        self.stop = threading.Event()
        self._decode = msgspec.json.Decoder(_Decided).decode

    def run(self) -> None:
        while not self.stop.is_set():
            for records in self.consumer.poll(timeout_ms=20).values():
                now = time.perf_counter()
                for r in records:
                    nudge = self._decode(r.value).request.nudge_id
                    if nudge in self.awaited:
                        self.arrived.setdefault(nudge, now)
        self.consumer.close()


class Monitor(threading.Thread):
    """Once a second: events on the raw topic so far, and how far the two stages are behind.

    End offsets are close enough on Tansu (its end is the start of the last record batch,
    small beside a second of traffic); the backlog is the end offsets minus each stage's
    committed offsets.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.consumer = kafka.reader(settings.kafka_bootstrap, "channelhub-bench")
        self.admin = kafka.admin(settings.kafka_bootstrap, "channelhub-bench")
        #: (perf_counter, events on the raw topic, backlog of validation, of the nudge stage)
        self.samples: list[tuple[float, int, int, int]] = []
        self.stop = threading.Event()

    def _ends(self, topic: str) -> dict[TopicPartition, int]:
        partitions = [TopicPartition(topic, p) for p in range(self.settings.topic_partitions)]
        ends: dict[TopicPartition, int] = self.consumer.end_offsets(partitions)
        return ends

    def _backlog(self, stage: str, ends: dict[TopicPartition, int]) -> int:
        group = f"{self.settings.group_prefix}-{stage}"
        committed = self.admin.list_group_offsets(group)[group]
        return sum(
            max(0, end - (committed[tp].offset if tp in committed else 0))
            for tp, end in ends.items()
        )

    def run(self) -> None:
        s = self.settings
        while not self.stop.wait(1.0):
            raw, events = self._ends(s.topic_raw), self._ends(s.topic_events)
            validate, nudges = self._backlog("validate", raw), self._backlog("nudges", events)
            self.samples.append((time.perf_counter(), sum(raw.values()), validate, nudges))
        self.consumer.close()
        self.admin.close()

    def between(self, began: float, ended: float) -> tuple[float, int, int]:
        """Raw events/s and the largest backlog of each stage from ``began`` to ``ended``."""
        window = [x for x in self.samples if began <= x[0] <= ended]
        if len(window) < 2:
            return 0.0, 0, 0
        rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
        return rate, max(x[2] for x in window), max(x[3] for x in window)


# -- the run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """The figures of one background rate."""

    rate: float
    achieved: float  # background events/s on the raw topic while the triggers went
    validate_behind: int  # the most events validation was behind meanwhile
    nudges_behind: int  # and the nudge stage
    triggers: int
    latencies_ms: list[float]

    HEADER = (
        f"{'background/s':>12} {'achieved/s':>11} {'behind: validate':>16} {'nudges':>8} "
        f"{'triggers':>9} {'nudged':>7} {'p50':>6} {'p99':>6} {'max':>6}"
    )

    def row(self) -> str:
        p50 = p99 = top = "-"
        if len(self.latencies_ms) >= 2:
            q = statistics.quantiles(self.latencies_ms, n=100)
            p50, p99, top = f"{q[49]:.0f}", f"{q[98]:.0f}", f"{max(self.latencies_ms):.0f}"
        return (
            f"{self.rate:>12,.0f} {self.achieved:>11,.0f} {self.validate_behind:>16,} "
            f"{self.nudges_behind:>8,} {self.triggers:>9} {len(self.latencies_ms):>7} "
            f"{p50:>6} {p99:>6} {top:>6}"
        )

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.latencies_ms, n=100)[98]


@dataclass(frozen=True)
class Options:
    """How each phase runs (the command line's options)."""

    triggers: int
    trigger_rate: float
    warmup: float
    timeout: float


class Bench:
    """The phases of one run: one stack, one event clock, one monitor."""

    def __init__(self, args: Options, settings: Settings, rule: Rule, offset: timedelta) -> None:
        self.args = args
        self.settings = settings
        self.rule = rule
        self.offset = offset
        self.next_subscriber = 0
        self.monitor = Monitor(settings)

    def phase(self, rate: float, seed: int) -> Phase:
        settings, args = self.settings, self.args
        _say(f"background {rate:,.0f} events/s: generating {POOL_SIZE:,} simulator events ...")
        spawn = multiprocessing.get_context("spawn")  # no fork of a process with Kafka threads
        ready, stop = spawn.Event(), spawn.Event()
        offset_ms = int(self.offset.total_seconds() * 1000)
        sender = spawn.Process(
            target=paced, name=f"background-{rate:.0f}",
            args=(settings.kafka_bootstrap, settings.topic_raw, rate, seed, offset_ms,
                  POOL_START, POOL_SIZE, ready, stop),
        )  # fmt: skip
        sender.start()
        try:
            if not ready.wait(timeout=300):
                raise SystemExit("nudge_latency: the background process did not start in 300 s")
            warm_until = time.perf_counter() + args.warmup
            while time.perf_counter() < warm_until:
                time.sleep(min(5.0, warm_until - time.perf_counter()))
                achieved, validate, nudges = self.monitor.between(
                    time.perf_counter() - 5, time.perf_counter()
                )
                _say(f"  warming up: {achieved:,.0f} events/s; behind: validation {validate:,}, "
                     f"nudges {nudges:,} events")  # fmt: skip
            began = time.perf_counter()
            latencies, triggers = self._triggers()
            achieved, validate, nudges = self.monitor.between(began, time.perf_counter())
        finally:
            stop.set()
            sender.join(timeout=30)
            if sender.is_alive():
                sender.terminate()
        return Phase(rate, achieved - args.trigger_rate, validate, nudges, triggers, latencies)

    def _triggers(self) -> tuple[list[float], int]:
        """Send the triggers at the trigger rate; the latency of each nudge that came back."""
        settings, args = self.settings, self.args
        outbound = Outbound(settings)
        outbound.start()
        sent_at: dict[str, float] = {}
        began = time.perf_counter()
        with Producer(
            settings.kafka_bootstrap, settings.topic_raw, client_id="bench-triggers", linger_ms=0
        ) as producer:
            for i in range(args.triggers):
                due = began + i / args.trigger_rate
                while (now := time.perf_counter()) < due:
                    time.sleep(min(due - now, 0.002))
                event = _trigger(self._subscriber(), datetime.now(UTC) + self.offset)
                nudge = nudge_id(RULE_ID, event.event_id)
                outbound.awaited.add(nudge)
                sent_at[nudge] = time.perf_counter()
                producer.send(str(event.msisdn).encode(), _encode(event))
                if (i + 1) % max(1, args.triggers // 5) == 0:
                    _say(f"  {i + 1} triggers sent, {len(outbound.arrived)} nudges back")
        deadline = time.perf_counter() + args.timeout
        while len(outbound.arrived) < len(sent_at) and time.perf_counter() < deadline:
            time.sleep(0.05)
        outbound.stop.set()
        outbound.join()
        arrived = outbound.arrived
        return [(arrived[n] - sent_at[n]) * 1000 for n in arrived], len(sent_at)

    def _subscriber(self) -> int:
        """The next bench subscriber outside the rule's holdout group."""
        share = self.rule.guardrails.holdout_share
        while True:
            self.next_subscriber += 1
            if not in_holdout(RULE_ID, f"147{self.next_subscriber:08d}", share):
                return self.next_subscriber


def _stack(settings: Settings, processes: list[ManagedProcess]) -> None:
    """Broker, ClickHouse, every topic and table, the validation worker, the nudge stage and
    the sink, each waited for."""
    state = settings.state_dir
    workers = [
        python_service(
            settings, name, "streams", "--stage", stage,
            health=tcp_open("127.0.0.1", port), startup_timeout=120.0,
        )
        for name, stage, port in (
            ("worker", "validate", settings.worker_web_port),
            ("nudger", "nudges", settings.nudger_web_port),
        )
    ]  # fmt: skip
    try:
        processes += start_storage(settings)
        processes += start_in_order(
            [*workers, python_service(settings, "sink", "sinks", min_uptime=3.0)], state
        )
    except ChannelhubError as e:
        raise SystemExit(
            f"nudge_latency: the stack did not come up: {e}\n(logs in {state / 'logs'})"
        ) from e


def _report(phases: list[Phase], args: Options, logs: Path) -> None:
    print("trigger produced → nudge on nudges.outbound (milliseconds)")
    print(Phase.HEADER)
    for phase in phases:
        print(phase.row())
    target = next((p for p in phases if p.rate == TARGET_RATE and len(p.latencies_ms) > 1), None)
    goal = f"target p99 < {TARGET_P99_MS:.0f} ms at {TARGET_RATE:,} events/s"
    if target is not None and target.achieved < REACHED * TARGET_RATE:
        print(f"{goal}: not measured, the background reached only {target.achieved:,.0f}/s")
    elif target is not None:
        verdict = "met" if target.p99 < TARGET_P99_MS else "MISSED"
        print(f"{goal}: {verdict} (p99 {target.p99:.0f} ms, ratio "
              f"{target.p99 / TARGET_P99_MS:.2f})")  # fmt: skip
    lost = sum(p.triggers - len(p.latencies_ms) for p in phases)
    if lost:
        raise SystemExit(
            f"nudge_latency: {lost} trigger(s) got no nudge within {args.timeout:.0f} s (the "
            f"stages were up to {max(p.validate_behind + p.nudges_behind for p in phases):,} "
            "events behind); see the "
            f"nudger's log in {logs}"
        )


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command(
    help=__doc__.split("\n\n")[0],
    epilog="The table goes to standard output, progress to standard error. Exits 1 if the "
    "stack does not come up or a trigger gets no nudge.",
)
def main(
    rate: Annotated[
        list[float] | None,
        typer.Option(
            help="Background events/s on the raw topic, one phase each; repeat for "
            f"more phases. (default: 1000, then {TARGET_RATE:,})"
        ),
    ] = None,
    triggers: Annotated[int, typer.Option(help="Trigger events per phase.")] = 1000,
    trigger_rate: Annotated[float, typer.Option(help="Triggers per second.")] = 20.0,
    warmup: Annotated[
        float, typer.Option(help="Seconds of background before a phase's first trigger.")
    ] = 20.0,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait after the last trigger for missing nudges.")
    ] = 60.0,
    seed: Annotated[int, typer.Option(help="Simulator seed of the first phase.")] = 1,
) -> None:
    rates = rate or [1_000, TARGET_RATE]
    args = Options(triggers, trigger_rate, warmup, timeout)
    rule = _rule()
    state = Path(tempfile.mkdtemp(prefix="channelhub-nudge-bench-"))
    settings = isolated_settings(
        state,
        nudge_rate_per_second=1_000_000.0,  # never hold a nudge for a gateway token
        log_level="WARNING",
    )
    offset = event_clock_offset(rule, datetime.now(UTC))
    if offset:
        _say(f"event clock {-offset} behind the wall clock, out of {RULE_ID}'s quiet hours")
    _say(f"state in {state}; starting broker, validation worker and nudge stage ...")
    processes: list[ManagedProcess] = []
    try:
        _stack(settings, processes)
        bench = Bench(args, settings, rule, offset)
        bench.monitor.start()
        try:
            phases = [bench.phase(r, seed + i) for i, r in enumerate(rates)]
        finally:
            bench.monitor.stop.set()
            bench.monitor.join()
    finally:
        stop_all(list(reversed(processes)), grace=5)
    _report(phases, args, state / "logs")


if __name__ == "__main__":
    app()
