"""The fan-out stage on the real broker and ClickHouse: chunks on their subscribers' partition,
budgets that add up, scheduled triggers that wait, and a restart that loses none of them."""

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from kafka import KafkaConsumer

from channelhub.marketing import store
from channelhub.platform.health import tcp_open
from channelhub.platform.process import ManagedProcess
from kernel.settings import Settings
from orchestration.campaigns import Audience, CampaignSpec, ChannelUse
from orchestration.campaigns.fanout import CHUNK_SIZE
from schemas.campaigns import CampaignRequest
from schemas.goals import UsesSelfService
from schemas.guardrails import Budget
from sinks import migrations
from sinks.client import connect
from tests.campaigns.data import Known, Row, expected, insert
from tests.fixtures.services import StartService, Topics, free_port, sigkill_and_restart

pytestmark = pytest.mark.integration

SPEC = CampaignSpec(
    id="sms-tips",
    description="SMS-hall users of the last month",
    audience=Audience(used=(ChannelUse(channels=("sms",), within_days=30),)),
    template="【湖南移动】{brand_name}客户发送0101到10086查话费 回复TD退订",
    goal=UsesSelfService(function="query.realtime_charges"),
    budget=Budget(max_messages=5003, max_fen=70_001),
)


def _crowd(now: datetime) -> Known:
    """Over CHUNK_SIZE SMS-hall users on partition 1, fewer on the others, and web users who
    are not in the audience."""
    rng = random.Random(17)
    rows = []
    for partition, n, channel in ((1, CHUNK_SIZE + 700, "sms"), (0, 300, "sms"), (2, 3, "sms"),
                                  (3, 41, "sms"), (2, 200, "web")):  # fmt: skip
        for _ in range(n):
            at = now - timedelta(days=rng.uniform(0, 25))
            rows.append(Row(f"k1.{rng.getrandbits(128):032x}", partition, channel,
                            f"{channel}.test_event", at, "changsha", "gotone",
                            f"{rng.getrandbits(128):032x}"))  # fmt: skip
    return Known(rows, [])


Arrived = tuple[int, int, CampaignRequest]  # partition, timestamp (ms), request


def _requests(settings: Settings) -> Iterator[Arrived | None]:
    """What arrives on ``campaigns.requests``; ``None`` after each quiet half second."""
    consumer = KafkaConsumer(
        settings.topic_campaign_requests,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
    )
    try:
        while True:
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    request = msgspec.json.decode(r.value, type=CampaignRequest)
                    yield r.partition, r.timestamp, request
            yield None
    finally:
        consumer.close()


def _collect(arriving: Iterator[Arrived | None], members: int, timeout: float) -> list[Arrived]:
    """Requests until they hold ``members`` pseudonyms, then 2 s more to catch any extra."""
    got: list[Arrived] = []
    deadline = time.monotonic() + timeout
    settle: float | None = None
    for item in arriving:
        if item is not None:
            got.append(item)
        if settle is None and sum(len(r.subscribers) for _, _, r in got) >= members:
            settle = time.monotonic() + 2
        if settle is not None and time.monotonic() > settle:
            return got
        assert time.monotonic() < deadline, f"only {len(got)} requests after {timeout}s"
    raise AssertionError("the consumer stopped")


def _start(settings: Settings, start_service: StartService) -> ManagedProcess:
    start_service("sink", "sinks", settings)
    return start_service(
        "campaigns", "streams", settings, "--stage", "campaigns",
        health=tcp_open("127.0.0.1", settings.campaigns_web_port), timeout=120,
    )  # fmt: skip


def _created(settings: Settings, spec: CampaignSpec) -> None:
    store.create(settings, spec, by="test")
    client = connect(settings)
    deadline = time.monotonic() + 60
    while not [c for c in store.list_campaigns(client, settings.clickhouse_database)
               if c.campaign_id == spec.id]:  # fmt: skip
        assert time.monotonic() < deadline, "the sink did not write the campaign"
        time.sleep(0.3)
    client.disconnect()


@pytest.fixture
def fanout_settings(settings: Settings, clickhouse_db: str) -> Settings:
    """``settings`` with a migrated database and a free port for the stage's web server."""
    migrations.migrate(settings)
    return settings.model_copy(update={"campaigns_web_port": free_port()})


def test_chunks_land_on_their_partition_with_budgets_that_sum_to_the_total(
    fanout_settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    settings = fanout_settings
    now = datetime.now(UTC).replace(microsecond=0)
    known = _crowd(now)
    insert(settings, known)
    _start(settings, start_service)
    _created(settings, SPEC)

    at = now + timedelta(seconds=3)
    trigger = store.trigger(settings, SPEC.id, at, by="test")
    want = expected(known, SPEC.audience, at)
    got = _collect(_requests(settings), len(want), timeout=90)

    assert all(ts >= at.timestamp() * 1000 for _, ts, _ in got), "sent before its time"
    partition_of = {s: m.partition for s, m in want.items()}
    sent: list[str] = []
    budgets: dict[int, Budget] = {}
    for partition, _, request in got:
        assert request.trigger_id == trigger.trigger_id
        assert request.requested_at == at
        assert 0 < len(request.subscribers) <= CHUNK_SIZE
        assert {partition_of[s] for s in request.subscribers} == {partition}
        assert request.guardrails.budget is not None
        budgets.setdefault(partition, request.guardrails.budget)
        assert budgets[partition] == request.guardrails.budget  # one share per partition
        sent += request.subscribers
    assert sorted(sent) == sorted(want)  # each member once, nobody else
    assert sorted(budgets) == [0, 1, 2, 3]
    assert sum(b.max_messages or 0 for b in budgets.values()) == SPEC.budget.max_messages
    assert sum(b.max_fen or 0 for b in budgets.values()) == SPEC.budget.max_fen
    assert sum(1 for p, _, _ in got if p == 1) == 2  # > CHUNK_SIZE members: two chunks


def test_a_waiting_trigger_survives_a_restart_and_a_done_one_is_not_redone(
    fanout_settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    settings = fanout_settings
    now = datetime.now(UTC).replace(microsecond=0)
    known = _crowd(now)
    insert(settings, known)
    stage = _start(settings, start_service)
    _created(settings, SPEC)
    arriving = _requests(settings)

    first = store.trigger(settings, SPEC.id, now, by="test")
    done = _collect(arriving, len(expected(known, SPEC.audience, now)), timeout=90)
    assert {r.trigger_id for _, _, r in done} == {first.trigger_id}

    later = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
    second = store.trigger(settings, SPEC.id, later, by="test")
    time.sleep(5)  # read by the stage, which now waits for its time
    stage.stop()
    stage.start()
    stage.wait_healthy()
    after = _collect(arriving, len(expected(known, SPEC.audience, later)), timeout=120)
    assert {r.trigger_id for _, _, r in after} == {second.trigger_id}  # the first: not redone
    assert all(ts >= later.timestamp() * 1000 for _, ts, _ in after)


def test_sigkill_three_times_during_fan_out_loses_no_member_and_changes_no_chunk(
    fanout_settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    """Six triggers due over ten seconds; the stage SIGKILLed three times meanwhile. Every
    member of every trigger is asked for; a chunk fanned out again after a kill is the same
    chunk (same trigger id, partition and members), which the nudge stage's guardrails refuse
    as a duplicate."""
    settings = fanout_settings
    now = datetime.now(UTC).replace(microsecond=0)
    known = _crowd(now)
    insert(settings, known)
    stage = _start(settings, start_service)
    _created(settings, SPEC)
    arriving = _requests(settings)
    times = [now + timedelta(seconds=2 * i) for i in range(6)]
    triggers = [store.trigger(settings, SPEC.id, at, by="test") for at in times]
    rng = random.Random(41)
    for _ in range(3):
        time.sleep(rng.uniform(1.0, 3.0))
        sigkill_and_restart(stage)

    members = len(expected(known, SPEC.audience, times[-1]))
    got = _collect(arriving, members * len(triggers), timeout=180)
    asked: dict[str, set[str]] = {t.trigger_id: set() for t in triggers}
    chunks: dict[tuple[str, int, str], CampaignRequest] = {}
    repeats = 0
    for partition, _, request in got:
        asked[request.trigger_id].update(request.subscribers)
        key = (request.trigger_id, partition, request.subscribers[0])
        if key in chunks:
            repeats += 1
            assert chunks[key] == request, "a chunk fanned out again is not the same chunk"
        chunks[key] = request
    for trigger, at in zip(triggers, times, strict=True):
        assert asked[trigger.trigger_id] == set(expected(known, SPEC.audience, at))
    print(f"{len(got)} chunks for {len(triggers)} triggers, {repeats} fanned out again")
