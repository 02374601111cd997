"""Bounded nudge state: eviction changes no decision, opt-outs outlive it, the changelog
carries both, and a subscriber's state stays small.

Two sparse populations, one after the other, are folded twice, once
evicting as the stage does and once keeping every state for ever: the two runs must decide
and attribute identically, event for event.
"""

import dataclasses
import statistics
from datetime import UTC, datetime
from itertools import islice

import pytest

from channelhub.simulator.engine import Engine, Scenario
from orchestration.journey import DAY_MS, KEEP_MS
from schemas import Event, Rejection, validate
from schemas.nudges import Conversion, DecidedNudge
from streams.nudge_core import SWEEP_EVERY_MS, NudgeCore, PartitionNudges
from streams.nudge_state import encode_state
from streams.state_store import Replay, changelog
from tests.orchestration.events import make
from tests.streams.nudge_fold import batches, by_partition, core

START_MS = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp() * 1000)
DAY_S = 86_400
#: A request an agent handled that the shipped rules answer with a self-service nudge.
HANDLED = {"agent_id": "A0001", "topic": "query.monthly_bill", "resolved": True,
           "handle_s": 120.0, "self_serviceable": True}  # fmt: skip


def sparse(events: int, subscribers: int, seed: int, start_ms: int = START_MS) -> list[Event]:
    scenario = Scenario(seed=seed, start_ms=start_ms, subscribers=subscribers)
    decoded = [validate(e.payload) for e in islice(Engine(scenario), events)]
    return [e for e in decoded if not isinstance(e, Rejection)]


@pytest.fixture(scope="module")
def months() -> list[Event]:
    """A month of one population, then, 45 days after it began, a month of another: the
    first is idle past the journey window while the second's traffic moves the watermark."""
    first = sparse(25_000, subscribers=1_000, seed=11)
    return first + sparse(25_000, subscribers=1_000, seed=12, start_ms=START_MS + 45 * DAY_MS)


def run(
    nudge_core: NudgeCore, events: list[Event]
) -> tuple[list[DecidedNudge], list[Conversion], dict[int, PartitionNudges], dict[int, Replay]]:
    decided: list[DecidedNudge] = []
    conversions: list[Conversion] = []
    states: dict[int, PartitionNudges] = {}
    replays: dict[int, Replay] = {}
    for p, part_events in by_partition(events, 4).items():
        states[p], replays[p] = PartitionNudges(), Replay()
        for chunk in batches(part_events, 200):
            out = nudge_core.process(states[p], chunk)
            decided += out.decided
            conversions += out.conversions
            for key, value in changelog(states[p]):
                replays[p].read(key, value)
    return decided, conversions, states, replays


def test_eviction_changes_no_decision_and_the_changelog_follows_it(months: list[Event]) -> None:
    evicting = core()
    keeping = dataclasses.replace(evicting, keep_ms=10**15)
    decided, conversions, states, replays = run(evicting, months)
    kept_decided, kept_conversions, kept_states, _ = run(keeping, months)

    assert decided == kept_decided
    assert conversions == kept_conversions
    assert len(decided) > 1000
    held = sum(len(s.subscribers) for s in states.values())
    everyone = sum(len(s.subscribers) for s in kept_states.values())
    assert held < everyone * 0.9, "idle subscribers are evicted"
    for p, state in states.items():
        # The last sweep began at most an hour of event time ago: what is left was active
        # within the window then, or is held open by a request or a goal, or is not swept yet.
        horizon = state.watermark_ms - KEEP_MS - SWEEP_EVERY_MS
        assert all(
            s.newest_ms >= horizon or s.held or s.goals or m in state.subscribers._sweep
            for m, s in state.subscribers.items()
        )
        restored = replays[p].finish()
        assert dict(restored.subscribers.items()) == dict(state.subscribers.items())
        assert restored.opt_outs == state.opt_outs


def test_an_opt_out_outlives_the_state_it_was_recorded_in() -> None:
    nudge_core = core()
    state, replay = PartitionNudges(), Replay()
    td = {"text": "TD", "matched_code": None, "match_kind": "unknown"}
    opt_out = make("sms.message_received", td, session_id="sms-1")
    login = {"method": "password", "success": True}
    later = make("web.login", login, at_s=40 * DAY_S, msisdn="13800000002", session_id="web-1")
    nudge_core.process(state, [(0, opt_out)])
    records = changelog(state)
    nudge_core.process(state, [(1, later)])
    records += changelog(state)
    assert "13800000001" not in state.subscribers, "evicted 40 days on"
    assert (b"13800000001", None) in records, "with a tombstone in the changelog"
    assert set(state.opt_outs) == {"13800000001"}

    back = make("agent.request_handled", HANDLED, at_s=41 * DAY_S)
    out = nudge_core.process(state, [(2, back)])
    assert out.requests
    assert {d.decision.reason for d in out.decided} == {"opted_out"}

    for key, value in records:
        replay.read(key, value)
    assert replay.finish().opt_outs == {"13800000001": {"*": state.opt_outs["13800000001"]["*"]}}


def test_a_subscriber_state_averages_under_300_bytes() -> None:
    """The simulator's default population, a few simulated days: the state each subscriber
    costs, as the changelog and the store hold it."""
    events = sparse(120_000, subscribers=100_000, seed=5)
    _, _, states, _ = run(core(), events)
    sizes = [len(encode_state(s)) for p in states.values() for _, s in p.subscribers.items()]
    assert len(sizes) > 20_000
    assert statistics.mean(sizes) <= 300


def test_a_changelog_another_version_wrote_is_skipped_not_fatal() -> None:
    """JSON records of the earlier format (and any other bytes) cost their subscriber's state,
    never the restore: the stage must come up."""
    state = PartitionNudges()
    core().process(state, [(0, make("agent.request_handled", HANDLED))])
    replay = Replay()
    replay.read(b"13800000009", b'{"journey":{},"recent_events":["e-1"]}')
    replay.read(b"\x0113800000009", b'{"*": 1}')
    replay.read(b"\x00checkpoint", b'{"type":"checkpoint","next_offset":7}')
    for key, value in changelog(state):
        replay.read(key, value)
    restored = replay.finish()
    assert replay.unreadable == 3
    assert dict(restored.subscribers.items()) == dict(state.subscribers.items())
    assert restored.next_offset == 1
