"""The wait predictor's queueing formulas and its state: known values, monotony, never raising."""

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.queue_wait import (
    MIN_ANSWERS,
    QueueWaits,
    conditional_wait_s,
    erlang_c,
    erlang_c_wait_s,
    prediction_event,
)
from schemas.envelope import Envelope
from schemas.events import (
    Abandoned,
    AgentAnswered,
    AgentRequestHandled,
    IvrAbandoned,
    IvrAgentAnswered,
    IvrQueueEntered,
    QueueEntered,
    RequestHandled,
)

AGENTS = st.integers(min_value=1, max_value=400)
LOAD = st.floats(min_value=0, max_value=500, allow_nan=False)
SERVICE = st.floats(min_value=1, max_value=3600)
PATIENCE = st.floats(min_value=1, max_value=3600) | st.just(math.inf)


def _erlang_c_by_the_book(agents: int, load: float) -> float:
    """The textbook sum, independent of the recursion under test (small ``agents`` only)."""
    top = load**agents / math.factorial(agents) * agents / (agents - load)
    return top / (sum(load**k / math.factorial(k) for k in range(agents)) + top)


def test_erlang_c_matches_known_values() -> None:
    assert math.isclose(erlang_c(2, 1.0), 1 / 3)  # M/M/2 at half load
    assert math.isclose(erlang_c(1, 0.7), 0.7)  # M/M/1: P(wait) = load
    assert round(erlang_c(11, 10.0), 4) == 0.6821  # the call-centre handbook example
    # 100 calls an hour of 3 min on 6 agents: 5 erlangs, mean wait ASA = C * S / (N - A).
    assert math.isclose(erlang_c_wait_s(6, 100 / 3600, 180.0) or 0, erlang_c(6, 5.0) * 180)
    assert erlang_c(5, 5.0) == 1.0
    assert erlang_c_wait_s(5, 5 / 180, 180.0) is None


@given(st.integers(min_value=1, max_value=30), st.floats(min_value=0, max_value=29.9))
def test_erlang_c_recursion_equals_the_textbook_sum(agents: int, load: float) -> None:
    if load >= agents:
        assert erlang_c(agents, load) == 1.0
    else:
        assert math.isclose(erlang_c(agents, load), _erlang_c_by_the_book(agents, load),
                            rel_tol=1e-9, abs_tol=1e-12)  # fmt: skip


@given(AGENTS, LOAD)
def test_erlang_c_is_a_probability_falling_with_agents_and_rising_with_load(
    agents: int, load: float
) -> None:
    c = erlang_c(agents, load)
    assert 0.0 <= c <= 1.0
    assert erlang_c(agents + 1, load) <= c + 1e-12
    assert erlang_c(agents, load * 1.1 + 0.01) >= c - 1e-12


@given(AGENTS, st.floats(min_value=0, max_value=10), SERVICE)
def test_erlang_c_wait_rises_with_arrivals_and_falls_with_agents(
    agents: int, arrivals: float, service: float
) -> None:
    wait = erlang_c_wait_s(agents, arrivals, service)
    if wait is None:
        assert arrivals * service >= agents
        return
    assert wait >= 0
    more = erlang_c_wait_s(agents, arrivals * 1.05 + 1e-4, service)
    assert more is None or more >= wait - 1e-9
    fewer = erlang_c_wait_s(agents + 1, arrivals, service)
    assert fewer is not None
    assert fewer <= wait + 1e-9


@given(AGENTS, SERVICE, PATIENCE, st.integers(min_value=0, max_value=500), st.booleans())
def test_conditional_wait_is_monotone(
    agents: int, service: float, patience: float, ahead: int, free: bool
) -> None:
    wait = conditional_wait_s(agents, service, patience, ahead, free)
    assert 0.0 <= wait <= 86_400
    assert conditional_wait_s(agents, service, patience, ahead + 1, free) >= wait
    assert conditional_wait_s(agents + 1, service, patience, ahead, free) <= wait
    # Callers ahead who give up sooner only shorten the wait: Erlang C is the bound.
    assert conditional_wait_s(agents, service, math.inf, ahead, free) >= wait - 1e-9


def test_conditional_wait_without_abandonment_is_k_plus_one_completions() -> None:
    assert conditional_wait_s(10, 200.0, math.inf, 0, agent_free=True) == 0.0
    assert math.isclose(conditional_wait_s(10, 200.0, math.inf, 4, agent_free=False), 5 * 20.0)
    # With patience θ = 1/100: 1/(0.05) + 1/(0.05 + 0.01) seconds.
    assert math.isclose(conditional_wait_s(10, 200.0, 100.0, 1, False), 20 + 1 / 0.06)


SECONDS = st.floats(min_value=0, max_value=86_400)


@st.composite
def _queue_event(draw: st.DrawFn) -> Envelope:
    """Any event the state folds: few sessions and agents, so calls meet; times in any order,
    waits and handle times anywhere in their range."""
    kind = draw(st.sampled_from(["entered", "answered", "abandoned", "handled"]))
    t = draw(st.floats(min_value=-86_400, max_value=86_400 * 3))
    envelope = _envelope(t, f"s{draw(st.integers(0, 5))}")
    agent = f"A{draw(st.integers(1, 4)):04d}"
    if kind == "entered":
        position = draw(st.integers(0, 100_000))
        return IvrQueueEntered(**envelope, attributes=QueueEntered(  # type: ignore[arg-type]
            draw(st.sampled_from(["general", "vip"])), position, False))  # fmt: skip
    if kind == "answered":
        return IvrAgentAnswered(**envelope,  # type: ignore[arg-type]
                                attributes=AgentAnswered(agent, draw(SECONDS)))  # fmt: skip
    if kind == "abandoned":
        return IvrAbandoned(**envelope, attributes=Abandoned(draw(SECONDS)))  # type: ignore[arg-type]
    return AgentRequestHandled(
        **{**envelope, "channel": "agent"},  # type: ignore[arg-type]
        attributes=RequestHandled(agent, "unknown", True, draw(SECONDS), False),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(_queue_event(), max_size=200), st.integers(60_000, 86_400_000))
def test_observing_any_queue_events_never_raises(events: list[Envelope], window: int) -> None:
    waits = QueueWaits(window_ms=window)
    for event in events * 2:  # and replayed
        prediction = waits.observe(event)
        if prediction is not None:
            assert isinstance(event, IvrQueueEntered)
            assert prediction.predicted_wait_s >= 0
            assert prediction.agents >= 1
            prediction_event(event, prediction)  # valid by construction: raises otherwise


_T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def _envelope(t: float, session: str) -> dict[str, object]:
    return {
        "event_id": f"00000000-0000-7000-8000-{abs(hash((t, session))) % 10**12:012d}",
        "schema_version": 1, "channel": "ivr", "occurred_at": _T0 + timedelta(seconds=t),
        "msisdn": "13800000001", "session_id": session, "prefecture": "changsha",
        "brand": "gotone",
    }  # fmt: skip


def _busy_queue(agents: int, waits: QueueWaits) -> float:
    """``agents`` agents, each answering a caller who joined 30 s earlier, 200 s of talk,
    10 s of after-call work, then the next caller: :data:`MIN_ANSWERS` rounds. Returns the
    time every agent is free again."""
    t = 0.0
    for rounds in range(MIN_ANSWERS):
        for a in range(agents):
            session, agent = f"r{rounds}a{a}", f"A{a + 1:04d}"
            answer = rounds * 210.0 + a + 10
            waits.observe(
                IvrQueueEntered(
                    **_envelope(answer - 30, session),  # type: ignore[arg-type]
                    attributes=QueueEntered("general", a, True),
                )
            )
            waits.observe(
                IvrAgentAnswered(
                    **_envelope(answer, session),  # type: ignore[arg-type]
                    attributes=AgentAnswered(agent, 30.0),
                )
            )
            waits.observe(AgentRequestHandled(
                **{**_envelope(answer + 200, session), "channel": "agent"},  # type: ignore[arg-type]
                attributes=RequestHandled(agent, "unknown", True, 200.0, False),
            ))  # fmt: skip
            t = answer + 210
    return t


def test_a_busy_queue_predicts_from_the_callers_ahead() -> None:
    waits = QueueWaits()
    t = _busy_queue(4, waits)
    # Every agent takes one more caller now: all four busy when the next caller joins.
    for a in range(4):
        session = f"last{a}"
        waits.observe(
            IvrQueueEntered(
                **_envelope(t, session),  # type: ignore[arg-type]
                attributes=QueueEntered("general", 0, True),
            )
        )
        waits.observe(
            IvrAgentAnswered(
                **_envelope(t + 1, session),  # type: ignore[arg-type]
                attributes=AgentAnswered(f"A{a + 1:04d}", 1.0),
            )
        )
    entered = IvrQueueEntered(**_envelope(t + 2, "next"),  # type: ignore[arg-type]
                              attributes=QueueEntered("general", 3, True))  # fmt: skip
    prediction = waits.observe(entered)
    assert prediction is not None
    assert prediction.agents == 4
    assert math.isclose(prediction.service_s, 210.0, rel_tol=0.01)  # 200 s talk + 10 s wrap-up
    assert prediction.patience_s is None  # nobody abandoned: Erlang C
    assert math.isclose(prediction.predicted_wait_s, 4 * 210.0 / 4, rel_tol=0.01)
    event = prediction_event(entered, prediction)
    assert event.session_id == "next"
    assert event.occurred_at == entered.occurred_at
    assert event.attributes.predicted_wait_s == prediction.predicted_wait_s
    assert prediction_event(entered, prediction).event_id == event.event_id


def test_no_prediction_before_enough_answers() -> None:
    waits = QueueWaits()
    entered = IvrQueueEntered(**_envelope(0, "first"),  # type: ignore[arg-type]
                              attributes=QueueEntered("general", 0, False))  # fmt: skip
    assert waits.observe(entered) is None
