"""The handsets process on a real broker: dispatches in, the subscribers' answers on the raw topic.

What arrives must be exactly what the pure function predicts for the same seed and
probability (nothing for failed sends and "no agent call" goals); an answer due in the future
is held until its time; and the offsets end committed past every dispatch once its answers
are acknowledged.
"""

import time
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from channelhub.ingest.producer import Producer
from channelhub.simulator.engine import Engine, Scenario
from channelhub.simulator.handsets.answers import occurred_ms, responses, would_respond
from channelhub.simulator.population import Population
from kernel.clock import to_ms
from kernel.settings import Settings
from schemas import Rejection, validate
from schemas.nudges import Dispatch
from tests.fixtures.services import StartService, Topics

pytestmark = pytest.mark.integration

PROBABILITY, SEED = 0.5, 5
GOALS = (
    "uses_self_service:query.monthly_bill:72h",
    "uses_self_service:handling.ringback_tone:168h",
    "uses_self_service:query.call_details:1h",
    "survey_reply:24h",
    "no_agent_call:7d",
)


def _dispatch(population: Population, n: int, approved: datetime, status: str = "sent") -> Dispatch:
    return Dispatch(
        nudge_id=f"{n:032x}",
        rule_id="ivr.long_agent_wait",
        msisdn=population.msisdn(n * 31),
        text="【湖南移动】",
        goal=GOALS[n % len(GOALS)],
        status=status,  # type: ignore[arg-type]
        gateway="file",
        approved_at=approved,
        dispatched_at=approved,
    )


def _produce(settings: Settings, dispatches: list[Dispatch]) -> None:
    with Producer(settings.kafka_bootstrap, settings.topic_nudges_dispatches) as producer:
        for d in dispatches:
            producer.send(d.msisdn.encode(), msgspec.json.encode(d))


class _Raw:
    """Everything on the raw topic, with when it was produced (the record's CreateTime)."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
        partitions = [TopicPartition(settings.topic_raw, p) for p in range(4)]
        self.consumer.assign(partitions)
        self.consumer.seek_to_beginning(*partitions)
        self.records: dict[bytes, tuple[bytes, int]] = {}
        self.received = 0

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.records) < count:
            assert time.monotonic() < deadline, f"{len(self.records)} of {count} answers arrived"
            self._poll()

    def read_for(self, seconds: float) -> None:
        """Keep reading a while: anything extra (a duplicate) would arrive meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._poll()

    def _poll(self) -> None:
        for records in self.consumer.poll(timeout_ms=200).values():
            for r in records:
                self.records[r.value] = (r.key, r.timestamp)
                self.received += 1


def _committed(settings: Settings) -> int:
    group = f"{settings.group_prefix}-handsets"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        offsets = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    return sum(o.offset for o in offsets.values())


def test_answers_arrive_as_predicted_and_future_ones_at_their_time(
    settings: Settings, topics: Topics, start_service: StartService
) -> None:
    settings = settings.model_copy(
        update={"handset_response_probability": PROBABILITY, "handset_seed": SEED}
    )
    population = Engine(Scenario(seed=0, start_ms=0)).population
    past = datetime.now(UTC) - timedelta(days=2)
    dispatches = [_dispatch(population, n, past) for n in range(60)]
    dispatches += [_dispatch(population, n, past, status="failed") for n in range(60, 70)]
    expected = {
        payload: d.msisdn.encode()
        for d in dispatches
        for payload in responses(d, seed=SEED, probability=PROBABILITY, population=population)
    }
    for payload in expected:
        assert not isinstance(validate(payload), Rejection)
    assert 10 < len(expected) < 200

    _produce(settings, dispatches)
    start_service("handsets", "channelhub.simulator.handsets", settings)
    raw = _Raw(settings)
    raw.wait_for(len(expected))
    assert {value: key for value, (key, _) in raw.records.items()} == expected

    # A survey (n % 5 == 3) whose reply is due in 3 s: held in memory, produced on time.
    n = next(n for n in range(103, 300, 5) if would_respond(SEED, f"{n:032x}", PROBABILITY))
    now = datetime.now(UTC)
    (reply,) = responses(
        _dispatch(population, n, now), seed=SEED, probability=PROBABILITY, population=population
    )
    delay = timedelta(milliseconds=occurred_ms(reply) - to_ms(now))
    live = _dispatch(population, n, now + timedelta(seconds=3) - delay)
    (reply,) = responses(live, seed=SEED, probability=PROBABILITY, population=population)
    _produce(settings, [live])
    raw.wait_for(len(expected) + 1)
    _, produced_at = raw.records[reply]
    assert produced_at >= occurred_ms(reply)

    deadline = time.monotonic() + 30
    while _committed(settings) < len(dispatches) + 1:
        assert time.monotonic() < deadline, "the handsets did not commit past every dispatch"
        time.sleep(0.5)
    raw.read_for(seconds=1.0)
    assert raw.received == len(expected) + 1
    raw.consumer.close()
