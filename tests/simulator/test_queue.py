"""The agent queue behaves as queueing theory says it must."""

import math
import random
import statistics

import pytest

from channelhub.simulator.queue import SHIFT_MS, AgentQueue, QueueOutcome, square_root_staffing

NEVER_MS = 10**12  # patience long enough that nobody abandons


def erlang_c_wait_s(agents: int, arrival_rate: float, handle_s: float) -> float:
    """Mean wait in M/M/c (Erlang C): P(wait) / (c·μ - λ)."""
    load = arrival_rate * handle_s
    top = load**agents / math.factorial(agents) * agents / (agents - load)
    bottom = sum(load**k / math.factorial(k) for k in range(agents)) + top
    return top / bottom / (agents / handle_s - arrival_rate)


def simulate(
    agents: int,
    arrival_rate: float,
    handle_s: float,
    patience_s: float | None,
    callers: int = 60_000,
    seed: int = 1,
) -> list[QueueOutcome]:
    """Poisson arrivals, exponential handle times and patience, constant staffing."""
    rng = random.Random(seed)
    queue = AgentQueue(lambda hour: agents)
    t, outcomes = 0.0, []
    for _ in range(callers):
        t += rng.expovariate(arrival_rate)
        patience = NEVER_MS if patience_s is None else int(rng.expovariate(1 / patience_s) * 1000)
        handle = int(rng.expovariate(1 / handle_s) * 1000)
        outcomes.append(queue.offer(int(t * 1000), patience, handle))
    return outcomes[callers // 10 :]  # drop the warm-up from an empty system


def mean_wait_s(outcomes: list[QueueOutcome]) -> float:
    return statistics.fmean(o.wait_ms for o in outcomes) / 1000


def abandonment(outcomes: list[QueueOutcome]) -> float:
    return sum(o.agent is None for o in outcomes) / len(outcomes)


@pytest.mark.parametrize(("agents", "arrival_rate"), [(5, 0.02), (10, 0.045), (20, 0.095)])
def test_without_abandonment_the_mean_wait_matches_erlang_c(
    agents: int, arrival_rate: float
) -> None:
    handle_s = 180.0
    expected = erlang_c_wait_s(agents, arrival_rate, handle_s)
    waits = [
        mean_wait_s(simulate(agents, arrival_rate, handle_s, None, callers=200_000, seed=seed))
        for seed in (1, 2)
    ]
    assert statistics.fmean(waits) == pytest.approx(expected, rel=0.08)


def test_more_agents_lower_waits_and_abandonment() -> None:
    few = simulate(8, 0.05, 180.0, 75.0)
    many = simulate(12, 0.05, 180.0, 75.0)
    assert mean_wait_s(many) < mean_wait_s(few)
    assert abandonment(many) < abandonment(few)


def test_more_load_raises_waits_and_abandonment() -> None:
    light = simulate(10, 0.04, 180.0, 75.0)
    heavy = simulate(10, 0.06, 180.0, 75.0)
    assert mean_wait_s(heavy) > mean_wait_s(light)
    assert abandonment(heavy) > abandonment(light)


def test_shorter_patience_means_more_abandonment() -> None:
    patient = simulate(10, 0.055, 180.0, 120.0)
    impatient = simulate(10, 0.055, 180.0, 30.0)
    assert abandonment(impatient) > abandonment(patient)


def test_overload_is_bounded_by_abandonment() -> None:
    """Offered load above capacity: the queue does not explode, callers give up instead."""
    outcomes = simulate(5, 0.05, 180.0, 60.0, callers=20_000)  # 9 erlangs on 5 agents
    assert abandonment(outcomes) > 0.3
    assert max(o.position for o in outcomes) < 200


def test_abandoning_callers_wait_exactly_their_patience_and_take_no_agent() -> None:
    queue = AgentQueue(lambda hour: 1)
    first = queue.offer(0, 1_000, 60_000)
    second = queue.offer(1_000, 5_000, 60_000)
    third = queue.offer(2_000, 120_000, 60_000)
    assert first == QueueOutcome(position=0, wait_ms=0, agent=0)
    assert second == QueueOutcome(position=0, wait_ms=5_000, agent=None)
    assert third == QueueOutcome(position=1, wait_ms=58_000, agent=0)  # second still waiting


def test_agents_off_shift_answer_nobody_until_their_shift() -> None:
    """One agent in hour 0, three from hour 1: callers queued at the change are answered then."""
    queue = AgentQueue(lambda hour: 1 if hour == 0 else 3)
    busy = queue.offer(SHIFT_MS - 10_000, NEVER_MS, 600_000)
    waiting = queue.offer(SHIFT_MS - 5_000, NEVER_MS, 60_000)
    assert busy.wait_ms == 0
    assert waiting.wait_ms == 5_000
    assert waiting.agent in (1, 2)


def test_callers_must_come_in_arrival_order() -> None:
    queue = AgentQueue(lambda hour: 1)
    queue.offer(5_000, 1_000, 1_000)
    with pytest.raises(ValueError, match="arrival order"):
        queue.offer(4_000, 1_000, 1_000)


def test_square_root_staffing_covers_the_load_with_margin() -> None:
    assert square_root_staffing(0.01) == 1
    assert square_root_staffing(16.0, 0.5) == 18
    assert square_root_staffing(100.0, 1.0) == 110
