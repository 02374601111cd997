"""Simulated handsets: who answers, what they do, when; and the hold/commit bookkeeping."""

import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec
import pytest
from kafka import TopicPartition

from channelhub.simulator.engine import Engine, Scenario
from channelhub.simulator.handsets.answers import (
    FIRST_ANSWER_MS,
    LATEST_ANSWER_MS,
    occurred_ms,
    responses,
    self_service_channels,
    would_respond,
)
from channelhub.simulator.handsets.service import Handsets
from channelhub.simulator.population import Population
from kernel.clock import to_ms
from kernel.settings import Settings
from orchestration.journey import function_used
from orchestration.rules.guidance import WAYS, way_for
from schemas import Event, Rejection, validate
from schemas.events import SmsMessageReceived
from schemas.nudges import Dispatch

APPROVED = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
HOUR_MS = 3_600_000
ITEMS = [item for item in WAYS if self_service_channels(item)]


@pytest.fixture(scope="module")
def population() -> Population:
    return Engine(Scenario(seed=0, start_ms=0, subscribers=20_000)).population


def _dispatch(
    population: Population, n: int, goal: str, *, status: str = "sent", msisdn: str = ""
) -> Dispatch:
    return Dispatch(
        nudge_id=f"{n:032x}",
        rule_id="ivr.long_agent_wait",
        msisdn=msisdn or population.msisdn(n % population.size),
        text="【湖南移动】",
        goal=goal,
        status=status,  # type: ignore[arg-type]
        gateway="file",
        approved_at=APPROVED,
        dispatched_at=APPROVED + timedelta(seconds=1),
    )


def _events(payloads: Iterable[bytes]) -> list[Event]:
    events = [validate(p) for p in payloads]
    assert not [e for e in events if isinstance(e, Rejection)]
    return events  # type: ignore[return-value]


def _answer(population: Population, n: int, goal: str, seed: int = 1) -> list[Event]:
    payloads = responses(
        _dispatch(population, n, goal), seed=seed, probability=1.0, population=population
    )
    return _events(payloads)


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_answers(
    population: Population,
) -> None:
    dispatches = [_dispatch(population, n, "uses_self_service:query.points:72h") for n in range(50)]

    def run(seed: int) -> list[list[bytes]]:
        return [responses(d, seed=seed, probability=0.5, population=population) for d in dispatches]

    assert run(3) == run(3)
    assert run(3) != run(4)
    assert would_respond(3, "a" * 32, 0.5) == would_respond(3, "a" * 32, 0.5)


def test_the_share_that_answers_is_the_probability(population: Population) -> None:
    n, p = 10_000, 0.3
    answered = sum(
        bool(responses(_dispatch(population, i, "survey_reply:24h"), seed=7, probability=p,
                       population=population))
        for i in range(n)
    )  # fmt: skip
    standard_error = math.sqrt(p * (1 - p) / n)
    assert abs(answered / n - p) < 3 * standard_error
    assert not any(would_respond(7, f"{i:032x}", 0.0) for i in range(1000))
    assert all(would_respond(7, f"{i:032x}", 1.0) for i in range(1000))


@pytest.mark.parametrize("hours", [1, 72, 168])
def test_self_service_answers_use_the_item_within_the_window(
    population: Population, hours: int
) -> None:
    approved_ms = to_ms(APPROVED)
    delays, channels = [], set()
    for n in range(600):
        item = ITEMS[n % len(ITEMS)]
        events = _answer(population, n, f"uses_self_service:{item}:{hours}h")
        who = population.find(events[0].msisdn or "")
        assert who is not None
        assert {(e.msisdn, e.prefecture, e.brand) for e in events} == {tuple(who)}
        assert len({e.session_id for e in events}) == 1
        times = [to_ms(e.occurred_at) for e in events]
        assert times == sorted(times)
        assert approved_ms + FIRST_ANSWER_MS <= times[0]
        assert times[-1] < approved_ms + min(hours * HOUR_MS, LATEST_ANSWER_MS)
        way = way_for(item)
        converting = {f"sms:{item}", f"web:{way.web_function}", f"wap:{way.wap_function}"}
        used = [function_used(e) for e in events]
        assert converting & set(used), (item, used)
        delays.append(times[0] - approved_ms)
        channels.add(events[0].channel)
    assert channels == {"sms", "web", "wap"}
    # Log-uniform: most who act, act soon; half within the geometric middle of the range.
    latest = min(hours * HOUR_MS, LATEST_ANSWER_MS)
    middle = math.sqrt(FIRST_ANSWER_MS * latest)
    assert 0.35 < sum(d < middle for d in delays) / len(delays) < 0.65


def test_sms_is_offered_only_when_the_hall_logs_the_item_itself() -> None:
    assert "sms" not in self_service_channels("handling.package_conversion")  # code 0205
    assert self_service_channels("handling.sms_bundle") == ["sms", "web"]
    assert self_service_channels("query.top_up") == []


def test_a_survey_is_answered_with_a_score_a_few_minutes_later(population: Population) -> None:
    for n in range(200):
        (reply,) = _answer(population, n, "survey_reply:24h")
        assert isinstance(reply, SmsMessageReceived)
        assert reply.attributes.text in {"1", "2", "3", "4", "5"}
        assert 60_000 <= to_ms(reply.occurred_at) - to_ms(APPROVED) <= 600_000


def test_no_answer_without_a_sent_sms_a_handset_or_a_way(population: Population) -> None:
    def answers(dispatch: Dispatch) -> list[bytes]:
        return responses(dispatch, seed=1, probability=1.0, population=population)

    assert answers(_dispatch(population, 1, "no_agent_call:7d")) == []
    assert answers(_dispatch(population, 1, "survey_reply:24h", status="failed")) == []
    assert answers(_dispatch(population, 1, "survey_reply:24h", msisdn="14700000001")) == []
    assert answers(_dispatch(population, 1, "uses_self_service:sp.complaint:72h")) == []


def test_event_ids_are_unique_uuids(population: Population) -> None:
    ids = [
        e.event_id
        for n in range(300)
        for e in _answer(population, n, "uses_self_service:handling.ringback_tone:72h")
    ]
    assert len(ids) == len(set(ids))


def test_population_finds_its_subscribers_and_nobody_else(population: Population) -> None:
    rng = random.Random(2)
    picked = [population.pick(channel, rng) for channel in ("ivr", "sms", "web") * 1000]
    assert [population.find(s.msisdn) for s in picked] == picked
    assert population.find("14700000001") is None  # a segment the population does not use
    outsiders = [f"138{n:08d}" for n in range(0, 10**8, 10**8 // 1000)]
    assert sum(population.find(m) is not None for m in outsiders) < 10  # 20k of 100M numbers


# -- the process's bookkeeping, without a broker ----------------------------------------------


class _Record(NamedTuple):
    offset: int
    value: bytes


class _Producer:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.flushed = 0

    def send(self, key: bytes, value: bytes) -> None:
        self.sent.append(value)

    def flush(self) -> None:
        self.flushed = len(self.sent)


class _Consumer:
    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.commits.append({tp: o.offset for tp, o in offsets.items()})


def test_offsets_wait_for_answers_still_held(population: Population) -> None:
    tp, now = TopicPartition("nudges.dispatches", 0), [to_ms(APPROVED)]
    settings = Settings(_env_file=None, handset_response_probability=1.0)  # type: ignore[call-arg]
    handsets = Handsets(settings, population, clock_ms=lambda: now[0])
    past = msgspec.structs.replace(
        _dispatch(population, 1, "survey_reply:24h"), approved_at=APPROVED - timedelta(hours=1)
    )
    future = _dispatch(population, 2, "uses_self_service:query.points:72h")
    failed = _dispatch(population, 3, "survey_reply:24h", status="failed")
    for offset, dispatch in enumerate((past, future, failed)):
        handsets.hold(tp, _Record(offset, msgspec.json.encode(dispatch)))  # type: ignore[arg-type]
    handsets.hold(tp, _Record(3, b"not json"))  # type: ignore[arg-type]
    handsets.next_offset[tp] = 4
    producer, consumer = _Producer(), _Consumer()

    handsets.release(producer)  # type: ignore[arg-type]
    handsets.commit(consumer)  # type: ignore[arg-type]
    assert [occurred_ms(p) <= now[0] for p in producer.sent] == [True]
    assert producer.flushed == 1
    assert consumer.commits == [{tp: 1}]  # the future answer holds offset 1 back

    now[0] += 25 * HOUR_MS
    handsets.release(producer)  # type: ignore[arg-type]
    handsets.commit(consumer)  # type: ignore[arg-type]
    assert producer.flushed == len(producer.sent) > 1
    assert consumer.commits[-1] == {tp: 4}
    assert handsets.counts == {"dispatches": 3, "answered": 2, "undecodable": 1,
                               "events": len(producer.sent)}  # fmt: skip


def test_revoked_partitions_are_forgotten(population: Population) -> None:
    tp = TopicPartition("nudges.dispatches", 1)
    settings = Settings(_env_file=None, handset_response_probability=1.0)  # type: ignore[call-arg]
    handsets = Handsets(settings, population, clock_ms=lambda: to_ms(APPROVED))
    dispatch = _dispatch(population, 5, "survey_reply:24h")
    handsets.hold(tp, _Record(0, msgspec.json.encode(dispatch)))  # type: ignore[arg-type]
    handsets.next_offset[tp] = 1
    handsets.forget({tp})
    assert handsets.held == []
    assert handsets.unacknowledged == {}
    assert handsets.next_offset == {}
