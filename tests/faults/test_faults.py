"""The fault suite: poison, kills, rebalances, replays and late duplicates on the real broker,
ClickHouse and stage processes, each ending in exact counts (:mod:`tests.faults.pipeline`).

Nothing here sleeps to prove that nothing more arrives: each scenario waits until every stage
has committed everything, upstream first, and only then counts.
"""

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from channelhub.marketing import store
from channelhub.platform.health import http_ok
from channelhub.simulator.engine import Emitted
from kernel import kafka
from kernel.settings import Settings
from tests.faults import campaign
from tests.faults.pipeline import (
    EVERY_STAGE,
    STAGES,
    Decided,
    Pipeline,
    assert_exact,
    expected_decisions,
    poison,
    produce,
    simulated_day,
)
from tests.faults.sms import assert_at_most_once
from tests.fixtures.services import (
    ClickHouseServer,
    StartService,
    Topics,
    free_port,
    sigkill_and_restart,
    start_process,
)
from tests.fixtures.waiting import end_offsets, wait_for
from tests.orchestration.smpp_server import smsc_spec

pytestmark = pytest.mark.integration

POISON_SHARE = 0.02


def _mixed(emitted: list[Emitted], seed: int) -> tuple[list[tuple[bytes | None, bytes]], int, int]:
    """Valid events with 2% poison of every kind shuffled in, in the events' order."""
    events = len(emitted)
    bad = poison(int(events * POISON_SHARE))
    records: list[tuple[bytes | None, bytes]] = [(e.key, e.payload) for e in emitted]
    rng = random.Random(seed)
    for value in bad:
        records.insert(rng.randrange(len(records) + 1), (None, value))
    return records, len(emitted), len(bad)


def _in_background(
    settings: Settings, records: list[tuple[bytes | None, bytes]], rate: float
) -> threading.Thread:
    """Produce ``records`` at about ``rate`` per second in a thread, so faults hit mid-run."""

    def paced() -> Iterator[tuple[bytes | None, bytes]]:
        started = time.monotonic()
        for i, record in enumerate(records):
            if i % 1000 == 0:
                ahead = i / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            yield record

    thread = threading.Thread(target=produce, args=(settings, paced()), daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class _Run:
    """Traffic on its way in, and what must be true once it has all landed."""

    pipeline: Pipeline
    producer: threading.Thread
    valid: int
    bad: int
    decisions: set[Decided]

    def settle(self) -> None:
        """Once everything is produced and every stage has drained: exact counts, and no
        stage exited by itself."""
        self.producer.join(timeout=300)
        assert not self.producer.is_alive()
        assert_exact(self.pipeline.drain(), self.valid, self.bad, self.decisions)
        assert self.pipeline.revived == []


def _run(
    settings: Settings, start_service: StartService, emitted: list[Emitted], seed: int,
    stages: Sequence[str] = STAGES, before_traffic: Callable[[Pipeline], object] = lambda _: None,
) -> _Run:  # fmt: skip
    """The pipeline started, and ``emitted`` with 2% poison arriving at 2,500 a second."""
    records, valid, bad = _mixed(emitted, seed)
    decisions = expected_decisions(emitted, settings)
    pipeline = Pipeline(settings, start_service, stages)
    before_traffic(pipeline)
    return _Run(pipeline, _in_background(settings, records, 2500), valid, bad, decisions)


def test_sigkill_of_every_stage_three_times_loses_and_doubles_nothing(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    tmp_path: Path,
) -> None:  # fmt: skip
    """a. 100k events with 2% poison; validate, nudges, sink, the dispatcher (on a real SMSC)
    and the campaign fan-out each SIGKILLed three times at random moments while the events
    arrive. Then a campaign is triggered, and its fan-out killed once more while it waits."""
    smsc_port, smsc_log = free_port(), tmp_path / "smsc" / "submits.jsonl"
    smsc = start_process(smsc_spec(smsc_port, smsc_log), tmp_path / "smsc")
    try:
        s = settings.model_copy(
            update={"sms_gateway": "smpp", "sms_smpp_port": smsc_port, "dispatch_concurrency": 8}
        )
        emitted = simulated_day(100_000, seed=31)
        offer = campaign.spec(datetime.now(UTC))
        run = _run(s, start_service, emitted, 31, EVERY_STAGE,
                   before_traffic=lambda p: campaign.create(s, offer, p.client))  # fmt: skip
        pipeline = run.pipeline
        rng = random.Random(31)
        kills = [stage for stage in EVERY_STAGE for _ in range(3)]
        rng.shuffle(kills)
        for stage in kills:
            time.sleep(rng.uniform(0.5, 3.0))
            pipeline.kill(stage)
        run.settle()

        at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=10)
        store.trigger(s, offer.id, at, by="faults")
        time.sleep(rng.uniform(1.0, 5.0))
        pipeline.kill("campaigns")  # while its trigger waits for its time
        wait_for(lambda: datetime.now(UTC) > at, "the trigger's time", timeout=30)
        pipeline.drain()
        asked = campaign.decided(pipeline.client, offer)
        members = campaign.members(emitted, s, offer, at)
        assert len(asked) == len({subscriber for subscriber, _, _ in asked}), "asked twice"
        assert {subscriber for subscriber, _, _ in asked} == members
        assert {(outcome, why) for _, outcome, why in asked} <= campaign.WHILE_QUIET
        assert pipeline.revived == []
    finally:
        smsc.stop()
    approved = {nudge_id for nudge_id, outcome, _, _ in run.decisions if outcome == "approved"}
    summary = assert_at_most_once(s, smsc_log, approved)
    dispatched = pipeline.client.execute(
        "SELECT count(), uniqExact(nudge_id) FROM nudge_dispatches"
    )[0]
    assert tuple(dispatched) == (len(approved), len(approved))
    print(f"\n{summary}; campaign: {len(members)} members, each asked once")


def test_poison_then_a_replay_of_the_raw_topic_changes_nothing(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    """e. poison of every kind written straight to the raw topic by a foreign client;
    f. the validation group reset to the earliest offset, everything routed again."""
    emitted = simulated_day(20_000, seed=32)
    records, valid, bad = _mixed(emitted, seed=32)
    decisions = expected_decisions(emitted, settings)
    pipeline = Pipeline(settings, start_service)
    assert produce(settings, records) == valid + bad
    first = pipeline.drain()
    assert_exact(first, valid, bad, decisions)

    pipeline.remove("validate")
    _reset_to_earliest(settings, "validate", settings.topic_raw)
    pipeline.add("validate")
    assert pipeline.drain() == first
    routed = end_offsets(settings.kafka_bootstrap, [settings.topic_events, settings.topic_dlq])
    assert sum(routed.values()) == 2 * (valid + bad), "the raw topic was not routed again"


def _reset_to_earliest(settings: Settings, stage: str, topic: str) -> None:
    """Commit offset 0 for every partition of ``topic`` as a member of the stage's group.

    The admin API's reset is refused: the local broker keeps a group that an aiokafka member
    has left in an unknown state and answers ``UnknownMemberId`` to commits from outside it.
    A member of the group's own, configured as the stages are, may always commit.
    """

    async def reset() -> None:
        member = kafka.consumer(settings, stage, topic)
        await member.start()
        try:
            deadline = time.monotonic() + 60
            while len(member.assignment()) < settings.topic_partitions:
                assert time.monotonic() < deadline, f"{topic} never fully assigned to the reset"
                await member.getmany(timeout_ms=200, max_records=1)
            await member.commit(dict.fromkeys(member.assignment(), 0))
        finally:
            await member.stop()

    asyncio.run(reset())


def test_validation_and_nudges_going_one_two_one_workers_during_traffic(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    """c. a second validation and a second nudge worker join mid-run, then leave."""
    run = _run(settings, start_service, simulated_day(40_000, seed=33), 33)
    pipeline = run.pipeline
    time.sleep(2)
    pipeline.add("validate")
    pipeline.add("nudges")
    time.sleep(3)
    pipeline.remove("validate")
    pipeline.remove("nudges")
    run.settle()


def test_a_late_duplicate_changes_no_table_and_no_aggregate(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    """g. events sent again after the sink's dedupe memory has forgotten them (a memory of
    100 ids, and the sink restarted in between): no count moves."""
    settings = settings.model_copy(update={"sink_dedupe_window": 100})
    emitted = simulated_day(5_000, seed=34)
    decisions = expected_decisions(emitted, settings)
    pipeline = Pipeline(settings, start_service)
    produce(settings, [(e.key, e.payload) for e in emitted])
    before = pipeline.drain()
    assert_exact(before, len(emitted), 0, decisions)

    pipeline.kill("sink")
    assert produce(settings, [(e.key, e.payload) for e in emitted[::5]]) == 1_000
    assert pipeline.drain() == before


def test_clickhouse_down_for_30_seconds_with_the_sink_restarted_meanwhile(
    settings: Settings,
    topics: Topics,
    clickhouse_db: str,
    start_service: StartService,
    clickhouse_server: ClickHouseServer,
) -> None:
    """b. ClickHouse stopped for 30 s mid-run; the sink SIGKILLed and started again while it
    is down, so it is assigned its partitions during the outage."""
    run = _run(settings, start_service, simulated_day(40_000, seed=35), 35)
    pipeline = run.pipeline
    time.sleep(3)
    server = clickhouse_server.process
    server.stop()
    try:
        down_since = time.monotonic()
        time.sleep(10)
        pipeline.kill("sink")
        time.sleep(max(0.0, 30 - (time.monotonic() - down_since)))
    finally:
        server.start()
        server.wait_healthy()
    pipeline.client.disconnect()
    run.settle()


def test_sigkill_of_the_collector_three_times_while_channel_systems_post(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    """a. (collector) channel systems post 1k-event NDJSON batches and send a batch again
    until it is answered 200, as the collector's API asks; the collector is SIGKILLed three
    times meanwhile. Every event lands once."""
    emitted = simulated_day(20_000, seed=36)
    decisions = expected_decisions(emitted, settings)
    pipeline = Pipeline(settings, start_service)
    collector = start_service(
        "collector", "channelhub.ingest.collector", settings,
        health=http_ok(f"{settings.collector_url}/health"),
    )  # fmt: skip
    batches = [emitted[i : i + 1000] for i in range(0, len(emitted), 1000)]
    refused: list[str] = []

    def post_all() -> None:
        with httpx.Client(
            base_url=settings.collector_url,
            headers={
                "Authorization": f"Bearer {settings.collector_token.get_secret_value()}",
                "Content-Type": "application/x-ndjson",
            },
            timeout=30,
        ) as client:
            for batch in batches:
                body = b"\n".join(e.payload for e in batch)
                while True:
                    try:
                        if client.post("/v1/events", content=body).status_code == 200:
                            break
                    except httpx.TransportError as e:
                        refused.append(type(e).__name__)
                    time.sleep(0.2)

    poster = threading.Thread(target=post_all, daemon=True)
    poster.start()
    rng = random.Random(36)
    for _ in range(3):
        time.sleep(rng.uniform(0.5, 2.0))
        sigkill_and_restart(collector)
    poster.join(timeout=300)
    assert not poster.is_alive()
    assert_exact(pipeline.drain(), len(emitted), 0, decisions)
    print(f"requests the clients had to send again: {len(refused)}")
