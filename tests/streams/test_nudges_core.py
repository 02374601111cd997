"""The nudge stage's per-partition core, without Kafka: determinism, holds, replays, restore.

A seeded slice of a simulated night and morning (quiet hours, then the 08:00 rush that the
gateway rate limits) is folded the way the worker's partitions fold it.
"""

from collections import Counter
from datetime import UTC, datetime

import pytest

from kernel.clock import from_ms
from schemas import Event
from schemas.nudges import DecidedNudge
from streams.nudge_core import PartitionNudges
from streams.state_store import Replay, changelog
from tests.orchestration.events import make
from tests.orchestration.test_rules_evaluate import handled
from tests.streams.nudge_fold import batches, by_partition, core, fold, simulated

#: Midnight of 1 March in Hunan: quiet hours first, then a busy morning.
START_MS = int(datetime(2026, 2, 28, 16, 0, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return simulated(20_000, seed=7, start_ms=START_MS)


@pytest.fixture(scope="module")
def folded(events: list[Event]) -> tuple[list[DecidedNudge], dict[int, PartitionNudges]]:
    return fold(events)


def _key(d: DecidedNudge) -> tuple[str, str, datetime]:
    return d.decision.nudge_id, d.decision.outcome, d.decision.decided_at


def test_every_outcome_occurs_and_batch_size_changes_nothing(
    events: list[Event], folded: tuple[list[DecidedNudge], dict[int, PartitionNudges]]
) -> None:
    decided, _ = folded
    reasons = Counter(d.decision.reason for d in decided)
    for reason in ("not_due", "quiet_hours", "rate_limited", "holdout", "opted_out"):
        assert reasons[reason] > 0, reason
    assert Counter(d.decision.outcome for d in decided)["approved"] > 1000
    assert [_key(d) for d in fold(events, batch=37)[0]] == [_key(d) for d in decided]


def test_each_nudge_is_approved_at_most_once_and_every_hold_is_decided_again(
    folded: tuple[list[DecidedNudge], dict[int, PartitionNudges]],
) -> None:
    decided, states = folded
    approved = Counter(d.decision.nudge_id for d in decided if d.decision.outcome == "approved")
    assert max(approved.values()) == 1
    waits = Counter(d.decision.nudge_id for d in decided if d.decision.reason == "rate_limited")
    assert sum(waits.values()) < 4 * len(waits)  # queued in slots, not retried at every token
    still_held = {
        h.request.nudge_id for part in states.values() for s in part.subscribers.values()
        for h in s.held
    }  # fmt: skip
    last: dict[str, DecidedNudge] = {d.decision.nudge_id: d for d in decided}
    for nudge_id, d in last.items():
        assert (d.decision.outcome == "held") == (nudge_id in still_held)
        if nudge_id in still_held:  # waiting for a time the slice never reached
            part = next(p for p in states.values() if nudge_id in _held_ids(p))
            assert d.decision.send_at is not None
            assert d.decision.send_at > from_ms(part.watermark_ms)


def _held_ids(part: PartitionNudges) -> set[str]:
    return {h.request.nudge_id for s in part.subscribers.values() for h in s.held}


def test_replayed_events_ask_for_nothing_new(events: list[Event]) -> None:
    nudge_core = core()
    for part_events in by_partition(events, 4).values():
        state = PartitionNudges()
        first = nudge_core.process(state, next(batches(part_events, len(part_events))))
        again = nudge_core.process(state, next(batches(part_events, len(part_events))))
        assert again.skipped == len(part_events)  # offsets already folded in
        replayed = nudge_core.process(
            state, next(batches(part_events, len(part_events), first_offset=len(part_events)))
        )  # the same events at new offsets: an upstream replay
        assert first.approved
        assert replayed.requests == []
        assert replayed.approved == []


def test_restore_from_the_changelog_continues_exactly(events: list[Event]) -> None:
    nudge_core = core()
    part_events = by_partition(events, 4)[0]
    whole = PartitionNudges()
    expected = [
        _key(d) for c in batches(part_events, 300) for d in nudge_core.process(whole, c).decided
    ]

    live, replay, got = PartitionNudges(), Replay(), []
    chunks = list(batches(part_events, 300))
    for chunk in chunks[: len(chunks) // 2]:
        out = nudge_core.process(live, chunk)
        got += [_key(d) for d in out.decided]
        for key, value in changelog(live):
            replay.read(key, value)
    nudge_core.process(live, chunks[len(chunks) // 2])  # crash before its checkpoint is read
    for key, value in changelog(live)[:-1]:
        replay.read(key, value)
    restored = replay.finish()
    assert restored.next_offset == chunks[len(chunks) // 2][0][0]
    for chunk in chunks[len(chunks) // 2 :]:
        got += [_key(d) for d in nudge_core.process(restored, chunk).decided]
    assert got == expected
    assert dict(restored.subscribers.items()) == dict(whole.subscribers.items())
    assert restored.gateway == whole.gateway


def test_an_opt_out_reply_suppresses_the_next_nudge() -> None:
    nudge_core = core()
    state = PartitionNudges()
    reply = make("sms.message_received", {"text": "退订", "matched_code": None,
                                          "match_kind": "unknown"}, session_id="sms-1")  # fmt: skip
    nudge_core.process(state, [(0, reply)])
    out = nudge_core.process(state, [(1, handled()[0])])
    assert out.requests
    assert {d.decision.reason for d in out.decided} == {"opted_out"}
