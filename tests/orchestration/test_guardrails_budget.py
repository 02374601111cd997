"""Campaign budgets: SMS segments, cost in fen, and exhaustion by count or by money."""

import pytest

from orchestration.guardrails import Budget, BudgetState
from orchestration.guardrails.budget import charge, message_cost, would_exceed


def test_cost_is_per_segment() -> None:
    assert message_cost("话" * 100, Budget(max_fen=1000, fen_per_segment=10)) == 20


@pytest.mark.parametrize(
    ("spent", "budget", "cost", "exceeded"),
    [
        (BudgetState(messages=1), Budget(max_messages=2), 10, False),
        (BudgetState(messages=2), Budget(max_messages=2), 10, True),
        (BudgetState(fen=80), Budget(max_fen=100), 20, False),
        (BudgetState(fen=90), Budget(max_fen=100), 20, True),
        (BudgetState(messages=1, fen=90), Budget(max_messages=5, max_fen=100), 20, True),
        (BudgetState(messages=5, fen=0), Budget(max_messages=5, max_fen=100), 10, True),
    ],
)
def test_exhaustion(spent: BudgetState, budget: Budget, cost: int, exceeded: bool) -> None:
    assert would_exceed(spent, budget, cost) is exceeded


def test_charge_adds_one_message_and_its_cost() -> None:
    assert charge(BudgetState(messages=2, fen=30), 20) == BudgetState(messages=3, fen=50)


def test_a_budget_needs_a_limit() -> None:
    with pytest.raises(ValueError, match="max_messages or max_fen"):
        Budget()
