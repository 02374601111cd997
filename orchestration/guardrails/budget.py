"""A campaign's budget: how many messages, and how many fen, it may still spend.

Spend is counted only for approved messages, so held and suppressed ones cost nothing. Cost
follows the SMS centre's billing: per segment, counted by the same encoder that splits the
message for the gateway (:func:`orchestration.dispatch.encode_sms`), so the budget and the
bill agree.
"""

import msgspec

from orchestration.dispatch import encode_sms
from schemas.guardrails import Budget


class BudgetState(msgspec.Struct, frozen=True, kw_only=True):
    """What a campaign has spent so far: messages approved and their cost in fen."""

    messages: int = 0
    fen: int = 0


def message_cost(text: str, budget: Budget) -> int:
    """The cost of sending ``text`` once, in fen."""
    return encode_sms(text).segments * budget.fen_per_segment


def would_exceed(spent: BudgetState, budget: Budget, cost: int) -> bool:
    """Whether one more message costing ``cost`` fen breaks either limit of ``budget``."""
    over_count = budget.max_messages is not None and spent.messages + 1 > budget.max_messages
    over_fen = budget.max_fen is not None and spent.fen + cost > budget.max_fen
    return over_count or over_fen


def charge(spent: BudgetState, cost: int) -> BudgetState:
    """``spent`` after one more approved message costing ``cost`` fen."""
    return BudgetState(messages=spent.messages + 1, fen=spent.fen + cost)
