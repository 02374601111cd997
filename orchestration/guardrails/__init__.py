"""Guardrails every nudge and campaign message passes, as pure code (no Kafka, no faust).

The entry point is :meth:`GuardrailPolicy.decide`; the order of its checks and why is in
:mod:`orchestration.guardrails.policy`. A rule's config maps onto :class:`GuardrailSettings`
(:mod:`.settings`); per-subscriber memory is :class:`SubscriberState`, small and msgspec
serialisable for a faust table keyed by MSISDN. SMS replies become opt-outs through
:func:`parse_opt_out` and :func:`record_opt_out`.
"""

from orchestration.guardrails.budget import BudgetState
from orchestration.guardrails.clock import LOCAL_TZ
from orchestration.guardrails.holdout import holdout_score, in_holdout
from orchestration.guardrails.optout import OptOut, is_opted_out, parse_opt_out, record_opt_out
from orchestration.guardrails.policy import GuardrailPolicy, GuardrailState
from orchestration.guardrails.ratelimit import TokenBucket
from orchestration.guardrails.reasons import Reason
from orchestration.guardrails.state import ALL, SubscriberState
from schemas.guardrails import (
    Budget,
    FrequencyCaps,
    GuardrailSettings,
    QuietHours,
    RateLimit,
)

__all__ = [
    "ALL",
    "LOCAL_TZ",
    "Budget",
    "BudgetState",
    "FrequencyCaps",
    "GuardrailPolicy",
    "GuardrailSettings",
    "GuardrailState",
    "OptOut",
    "QuietHours",
    "RateLimit",
    "Reason",
    "SubscriberState",
    "TokenBucket",
    "holdout_score",
    "in_holdout",
    "is_opted_out",
    "parse_opt_out",
    "record_opt_out",
]
