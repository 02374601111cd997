"""Campaign audiences in the nudge core: pseudonyms resolved on the partition, the same
guardrails as the rules, the partition's share of the budget, and re-delivery without resends."""

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from kernel.pseudonym import Pseudonymizer
from schemas import Event
from schemas.campaigns import CampaignRequest
from schemas.goals import UsesSelfService
from schemas.guardrails import Budget, GuardrailSettings
from streams.nudge_core import NudgeCore, PartitionNudges
from streams.nudge_state import SubscriberStore, encode_state
from tests.streams.nudge_fold import batches, by_partition, core, simulated

START_MS = int(datetime(2026, 3, 1, 1, 0, tzinfo=UTC).timestamp() * 1000)  # 09:00 in Hunan
pseudonymize = Pseudonymizer(b"test-key")


@pytest.fixture(scope="module")
def partition() -> tuple[NudgeCore, PartitionNudges]:
    """Partition 0 after a simulated morning."""
    events: list[Event] = simulated(4_000, seed=5, start_ms=START_MS)
    nudge_core = NudgeCore(rules=core().rules, policy=core().policy, pseudonymize=pseudonymize)
    state = PartitionNudges()
    for chunk in batches(by_partition(events, 4)[0], 500):
        nudge_core.process(state, chunk)
    return nudge_core, state


def _request(
    state: PartitionNudges, size: int, ring: Pseudonymizer = pseudonymize, **guardrails: object
) -> CampaignRequest:
    members = sorted(state.subscribers)[:size]
    settings = msgspec.convert(
        {"holdout_share": 0.2, "quiet_hours": None, **guardrails}, GuardrailSettings
    )
    return CampaignRequest(
        campaign_id="spring",
        trigger_id="trigger-1",
        subscribers=(*(ring(m) for m in members), "k1." + "0" * 32),
        template="【湖南移动】{prefecture_name}{brand_name}用户发送0101到10086查话费。",
        guardrails=settings,
        goal=UsesSelfService(function="query.realtime_charges", within_hours=72),
        requested_at=datetime.fromtimestamp(START_MS / 1000, UTC) + timedelta(hours=3),
    )


def test_each_member_is_asked_once_under_the_campaign_guardrails(
    partition: tuple[NudgeCore, PartitionNudges],
) -> None:
    nudge_core, state = partition
    state = _copy(state)
    request = _request(state, 60)
    out = nudge_core.process_campaign(state, request)
    assert out.unknown_subscribers == 1  # the pseudonym nobody on this partition has
    assert len(out.requests) == 60
    assert {r.rule_id for r in out.requests} == {"campaign:spring"}
    assert all("0101" in r.text and "{" not in r.text for r in out.requests)
    outcomes = Counter(d.decision.outcome for d in out.decided)
    assert outcomes["approved"] > 0
    assert outcomes["holdout"] > 0
    again = nudge_core.process_campaign(state, request)  # the chunk delivered twice
    assert not [d for d in again.decided if d.decision.outcome in ("approved", "holdout")]


def test_the_partition_budget_caps_approvals(partition: tuple[NudgeCore, PartitionNudges]) -> None:
    nudge_core, state = partition
    state = _copy(state)
    request = _request(state, 80, holdout_share=0.0, budget=Budget(max_messages=7))
    out = nudge_core.process_campaign(state, request)
    outcomes = Counter(d.decision.reason or d.decision.outcome for d in out.decided)
    assert outcomes["approved"] == 7
    assert outcomes["budget_exhausted"] > 0
    assert state.budgets["spring"].messages == 7


def test_a_chunk_fanned_out_before_the_key_rotated_still_finds_its_members(
    partition: tuple[NudgeCore, PartitionNudges],
) -> None:
    """The fan-out named the members under key 1; the stage now runs with key 2 active."""
    nudge_core, morning = partition
    rotated = Pseudonymizer(b"new key", key_id=2, retired={1: b"test-key"})
    after = NudgeCore(rules=nudge_core.rules, policy=nudge_core.policy, pseudonymize=rotated)
    before = after.process_campaign(_copy(morning), _request(morning, 40))
    since = after.process_campaign(_copy(morning), _request(morning, 40, rotated))
    assert before.unknown_subscribers == since.unknown_subscribers == 1
    assert [r.msisdn for r in before.requests] == [r.msisdn for r in since.requests]
    assert len(before.requests) == 40


def test_a_campaign_decided_after_its_code_was_retired_sends_nothing(
    partition: tuple[NudgeCore, PartitionNudges],
) -> None:
    """Retired before the scheduled time: every member refused as ``retired_service``, nothing
    approved or held out; retired after it: decided as if nothing was retired."""
    nudge_core, morning = partition
    request = _request(morning, 50)

    def retired_at(retirement: datetime) -> NudgeCore:
        def retired(text: str, at: datetime) -> list[str]:
            return ["0101"] if "0101" in text and at >= retirement else []

        return dataclasses.replace(nudge_core, retired_codes=retired)

    before = retired_at(request.requested_at - timedelta(minutes=5))
    refused = before.process_campaign(_copy(morning), request)
    assert len(refused.decided) == len(refused.requests) == 50
    assert Counter(d.decision.reason for d in refused.decided) == {"retired_service": 50}
    assert not refused.approved
    after = retired_at(request.requested_at + timedelta(minutes=5))
    sent = after.process_campaign(_copy(morning), request)
    assert [d.decision for d in sent.decided] == [
        d.decision for d in nudge_core.process_campaign(_copy(morning), request).decided
    ]
    assert sent.approved


def _copy(state: PartitionNudges) -> PartitionNudges:
    """A fresh copy, so each test starts from the same morning."""
    copy = PartitionNudges(
        subscribers=SubscriberStore({m: encode_state(s) for m, s in state.subscribers.items()}),
        watermark_ms=state.watermark_ms,
        gateway=state.gateway,
        rate_queue=state.rate_queue,
        next_offset=state.next_offset,
    )
    copy.index_held()
    return copy
