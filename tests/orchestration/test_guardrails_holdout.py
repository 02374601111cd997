"""Holdout membership: deterministic per subscriber and rule, and the right share of people."""

import math

import pytest

from orchestration.guardrails import holdout_score, in_holdout

SUBSCRIBERS = [f"138{n:08d}" for n in range(100_000)]


def test_membership_is_deterministic() -> None:
    assert holdout_score("long_wait", "13800000001") == holdout_score("long_wait", "13800000001")
    assert 0.0 <= holdout_score("long_wait", "13800000001") < 1.0


@pytest.mark.parametrize("share", [0.05, 0.1, 0.5])
def test_share_is_accurate_over_100k_subscribers(share: float) -> None:
    members = sum(in_holdout("long_wait", msisdn, share) for msisdn in SUBSCRIBERS)
    n = len(SUBSCRIBERS)
    sd = math.sqrt(n * share * (1 - share))
    assert abs(members - n * share) < 4 * sd


def test_rules_draw_independent_groups() -> None:
    a = {m for m in SUBSCRIBERS if in_holdout("long_wait", m, 0.1)}
    b = {m for m in SUBSCRIBERS if in_holdout("survey", m, 0.1)}
    # independent 10% groups overlap in about 1% of people (1000 ± 4 sd)
    assert abs(len(a & b) - 1000) < 4 * math.sqrt(100_000 * 0.01 * 0.99)


def test_raising_the_share_only_adds_members() -> None:
    small = {m for m in SUBSCRIBERS[:10_000] if in_holdout("long_wait", m, 0.05)}
    large = {m for m in SUBSCRIBERS[:10_000] if in_holdout("long_wait", m, 0.2)}
    assert small < large


def test_zero_and_full_shares() -> None:
    assert not any(in_holdout("r", m, 0.0) for m in SUBSCRIBERS[:1000])
    assert all(in_holdout("r", m, 1.0) for m in SUBSCRIBERS[:1000])
