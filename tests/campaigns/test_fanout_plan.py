"""The pure fan-out: chunks stay on their partition, budget shares add up to the budget."""

import random
from datetime import UTC, datetime

import msgspec
import pytest

from kernel.errors import ConfigError
from orchestration.campaigns import Audience, CampaignSpec
from orchestration.campaigns.fanout import partition_budgets, plan, shares
from schemas.campaigns import CampaignRequest, triggered
from schemas.goals import NoAgentCall
from schemas.guardrails import Budget

AT = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
SPEC = CampaignSpec(
    id="winback",
    description="test",
    audience=Audience(),
    template="{brand_name}客户发送0101到10086 回复TD退订",
    goal=NoAgentCall(within_days=7),
    budget=Budget(max_messages=1001, max_fen=20_003),
)
TRIGGER = triggered("winback", scheduled_at=AT, at=AT, by="test")


def _pseudonym(n: int) -> str:
    return f"k1.{n:032x}"


@pytest.mark.parametrize("seed", range(200))
def test_shares_are_whole_nearly_equal_and_sum_exactly_to_the_total(seed: int) -> None:
    rng = random.Random(seed)
    total = rng.choice([0, 1, 3, 7, 1000, 99_999, rng.randrange(10**9)])
    parts = rng.randint(1, 256)
    split = shares(total, parts)
    assert len(split) == parts
    whole = [s for s in split if s is not None]
    assert len(whole) == parts
    assert sum(whole) == total
    assert max(whole) - min(whole) <= 1
    assert whole == sorted(whole, reverse=True)  # the first partitions take the remainder


def test_no_limit_stays_no_limit_and_both_limits_are_split() -> None:
    assert shares(None, 2) == [None, None]
    budgets = partition_budgets(Budget(max_messages=10, max_fen=7, fen_per_segment=5), 4)
    assert [(b.max_messages, b.max_fen, b.fen_per_segment) for b in budgets] == [
        (3, 2, 5), (3, 2, 5), (2, 2, 5), (2, 1, 5),
    ]  # fmt: skip


def test_plan_chunks_each_partition_and_shares_the_budget() -> None:
    rng = random.Random(1)
    members = [(_pseudonym(n), rng.choice([0, 1, 3])) for n in range(12_345)]
    requests = plan(SPEC, TRIGGER, members, 4, chunk_size=5000)
    on = {p for _, p in members}
    sent: dict[int, list[str]] = {}
    budgets: dict[int, Budget] = {}
    for partition, request in requests:
        assert 0 < len(request.subscribers) <= 5000
        sent.setdefault(partition, []).extend(request.subscribers)
        budget = request.guardrails.budget
        assert budget is not None
        assert budgets.setdefault(partition, budget) == budget  # one share per partition
        assert (request.trigger_id, request.requested_at) == (TRIGGER.trigger_id, AT)
        assert (request.goal, request.template) == (SPEC.goal, SPEC.template)
        assert request.guardrails.holdout_share == SPEC.holdout_share
    assert set(sent) == on == {0, 1, 3}
    for partition, pseudonyms in sent.items():
        assert sorted(pseudonyms) == sorted(m for m, p in members if p == partition)
    every = partition_budgets(SPEC.budget, 4)
    assert budgets == {p: every[p] for p in (0, 1, 3)}  # 2 has no members: its share is unspent
    assert sum(b.max_messages or 0 for b in every) == 1001
    assert sum(b.max_fen or 0 for b in every) == 20_003


def test_requests_round_trip_as_the_declared_record() -> None:
    ((_, request),) = plan(SPEC, TRIGGER, [(_pseudonym(1), 2)], 4)
    decoded = msgspec.json.decode(msgspec.json.encode(request), type=CampaignRequest)
    assert decoded == request
    assert decoded.guardrails.budget == partition_budgets(SPEC.budget, 4)[2]


def test_a_partition_the_topics_do_not_have_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="topic_partitions is 4"):
        plan(SPEC, TRIGGER, [(_pseudonym(1), 4)], 4)
