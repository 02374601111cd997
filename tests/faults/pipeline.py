"""The pipeline under test in the fault suite: real stage processes, a foreign producer, exact
counts read back from ClickHouse, and an oracle that does not read the pipeline's output.

Every stage runs as its own process (validate, nudges and sink, and where a scenario asks for
them the dispatcher and the campaign fan-out), started by the ``start_service`` fixture and
killed by PID. Events come from the simulator's engine, produced to the raw topic
with a plain kafka-python producer, as a channel system that is not ours would; poison is
produced the same way. What must hold after any fault is derived from what was produced:
valid events = rows, every poison record one dead letter, nudge decisions equal those the
independent oracle (:mod:`tests.faults.oracle`) recomputes from the same events and the rules'
specification, without the nudge core.
"""

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from clickhouse_driver import Client
from kafka import KafkaProducer
from msgspec import json

from channelhub.platform.health import tcp_open
from channelhub.platform.process import ManagedProcess
from channelhub.simulator.engine import Emitted, Engine, Scenario
from channelhub.simulator.run import RunOptions, plan
from kernel.settings import Settings
from schemas import Event, Rejection, validate
from schemas.validation import MAX_EVENT_BYTES
from sinks import migrations
from sinks.client import connect
from tests.factories import make_event
from tests.faults import oracle
from tests.faults.oracle import Decided
from tests.fixtures.services import StartService, free_port, sigkill_and_restart
from tests.fixtures.waiting import wait_until_settled


def simulated_day(events: int, seed: int) -> list[Emitted]:
    """``events`` valid events of the simulator, ending before now at any hour (about a day
    for 100k): the start the simulator's own ``--events`` run would take."""
    start_ms = plan(RunOptions(events=events, seed=seed), int(time.time() * 1000)).start_ms
    return [e for _, e in zip(range(events), Engine(Scenario(seed=seed, start_ms=start_ms)),
                              strict=False)]  # fmt: skip


def poison(n: int) -> list[bytes]:
    """``n`` records of every kind a client that is not ours may write to the raw topic,
    cycling through the kinds; each is unique, so each must be exactly one dead letter."""
    now = time.time()

    def event(i: int, **fields: object) -> dict[str, object]:
        return make_event("ivr.abandoned", **{"session_id": f"poison-{i}", **fields})

    kinds = [
        lambda i: json.encode(event(i, occurred_at="0001-01-01T00:00:00+14:00")),
        lambda i: json.encode(event(i, occurred_at="1969-12-31T23:59:59Z")),
        lambda i: json.encode(event(i, occurred_at="9999-12-31T23:59:59.999-12:00")),
        lambda i: json.encode(event(i, occurred_at="2107-01-01T00:00:00Z")),
        lambda i: json.encode(
            event(i, occurred_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 7200)))
        ),
        lambda i: json.encode(event(i, attributes={"wait_s": 86_400.0001})),
        lambda i: json.encode(event(i, attributes={"wait_s": 1})).replace(b":1}", b":1e999}"),
        lambda i: json.encode(event(i, attributes={"wait_s": 1})).replace(b":1}", b":NaN}"),
        lambda i: json.encode(event(i, attributes={"wait_s": 1})).replace(b":1}", b":-Infinity}"),
        lambda i: json.encode(event(i, schema_version=2**63)),
        lambda i: json.encode(event(i, session_id="x" * 65)),
        lambda i: b'{"p":%d,"d":' % i + b"[" * 20_000 + b"]" * 20_000 + b"}",
        lambda i: json.encode({"pad": "y" * (MAX_EVENT_BYTES - 20), "i": i}),
        lambda i: json.encode({"pad": "z" * (900 * 1024), "i": i}),
        lambda i: b"\xff\xfe binary %d \x00" % i,
        lambda i: b'"just a string %d"' % i,
    ]
    return [kinds[i % len(kinds)](i) for i in range(n)]


def produce(settings: Settings, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Write ``(key, value)`` records to the raw topic as a foreign client would."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        linger_ms=5,
        max_request_size=2 * 1024 * 1024,
    )
    n = 0
    try:
        for key, value in records:
            producer.send(settings.topic_raw, value=value, key=key)
            n += 1
        producer.flush(timeout=120)
    finally:
        producer.close()
    return n


def expected_decisions(emitted: list[Emitted], settings: Settings) -> set[Decided]:
    """The nudge decisions these events must end in, recomputed by the oracle from the rules'
    specification (not by the nudge core, which is what is under test), partition by
    partition with each partition's share of ``settings.nudge_rate_per_second``."""
    events: list[Event] = []
    for e in emitted:
        event = validate(e.payload)
        assert not isinstance(event, Rejection), event
        events.append(event)
    return oracle.decisions(events, settings.topic_partitions, settings.nudge_rate_per_second)


@dataclass(frozen=True)
class Counts:
    """What ClickHouse holds, each figure read its own way so that one double shows."""

    rows: int
    distinct: int
    final: int
    per_minute: int
    dead_letters: int
    distinct_dead_letters: int
    #: The decisions of the rules (campaigns' are checked on their own).
    decisions: frozenset[Decided] = field(repr=False)
    decision_rows: int


def counts(client: Client) -> Counts:
    def one(sql: str) -> int:
        return int(client.execute(sql)[0][0])

    decisions = client.execute(
        "SELECT nudge_id, outcome, reason, toUInt64(decided_at) * 1000 + decided_ms "
        "FROM nudge_decisions WHERE NOT startsWith(rule_id, 'campaign:')"
    )
    return Counts(
        rows=one("SELECT count() FROM events"),
        distinct=one("SELECT uniqExact(event_id) FROM events"),
        final=one("SELECT count() FROM events FINAL"),
        per_minute=one("SELECT sum(events) FROM events_per_minute"),
        dead_letters=one("SELECT count() FROM dead_letters"),
        distinct_dead_letters=one("SELECT uniqExact(dead_letter_id) FROM dead_letters"),
        decisions=frozenset(tuple(r) for r in decisions),  # type: ignore[misc]
        decision_rows=len(decisions),
    )


STAGES = ("validate", "nudges", "sink")
EVERY_STAGE = ("campaigns", "validate", "nudges", "dispatch", "sink")


class Pipeline:
    """The stage processes (validate, nudges and sink by default), each killable and
    restartable."""

    def __init__(
        self, settings: Settings, start_service: StartService, stages: Sequence[str] = STAGES
    ) -> None:
        migrations.migrate(settings)
        self.settings = settings
        self.start_service = start_service
        self.client = connect(settings)
        self.processes: dict[str, list[ManagedProcess]] = {}
        #: Stages that exited by themselves and were started again by :meth:`revive`.
        self.revived: list[str] = []
        for stage in stages:
            self.add(stage)

    def add(self, stage: str) -> ManagedProcess:
        """Start one more process of ``stage`` (a second one joins the consumer group)."""
        s = self.settings
        if stage == "sink":
            process = self.start_service(f"sink-{len(self.processes.get(stage, []))}", "sinks", s)
        else:
            port = free_port()
            own = s.model_copy(
                update={
                    f"{web}_web_port": port
                    for web in ("worker", "nudger", "dispatcher", "campaigns")
                }
            )
            name = f"{stage}-{len(self.processes.get(stage, []))}"
            process = self.start_service(
                name, "streams", own, "--stage", stage,
                health=tcp_open("127.0.0.1", port), timeout=120,
            )  # fmt: skip
        self.processes.setdefault(stage, []).append(process)
        return process

    def remove(self, stage: str) -> None:
        """Stop the newest process of ``stage`` gracefully (its partitions move back)."""
        self.processes[stage].pop().stop()

    def kill(self, stage: str) -> None:
        """SIGKILL the first process of ``stage`` and start it again."""
        sigkill_and_restart(self.processes[stage][0])

    def revive(self) -> None:
        """Start again every stage process that exited by itself, as ``channelhub up``'s
        supervisor does; :attr:`revived` says which, so a scenario can require none."""
        for stage, processes in self.processes.items():
            for process in processes:
                if not process.running:
                    self.revived.append(stage)
                    process.start()
                    process.wait_healthy()

    def drain(self, timeout: float = 300.0) -> Counts:
        """Wait until every stage has committed everything, upstream first, reviving any
        that exited; then count."""
        wait_until_settled(
            self.settings, stages=tuple(self.processes), timeout=timeout, between=self.revive
        )
        return counts(self.client)


def assert_exact(got: Counts, valid: int, dead: int, decisions: set[Decided]) -> None:
    """Every way of counting events agrees with what was produced; nothing lost or doubled."""
    assert (got.rows, got.distinct, got.final, got.per_minute) == (valid,) * 4, got
    assert (got.dead_letters, got.distinct_dead_letters) == (dead, dead), got
    assert got.decision_rows == len(got.decisions) == len(decisions), got
    assert got.decisions == decisions
