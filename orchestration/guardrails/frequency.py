"""Frequency caps: how many SMS one subscriber may get, per rule and across all, per day/week.

Counted from the subscriber's remembered sends (see :mod:`.state`) in local time: the day is
the Asia/Shanghai calendar day, the week either the calendar week from Monday 00:00 local or
the rolling last 7 days. The most specific cap is reported first, so an analyst sees "this
rule already sent today" rather than the broader "three SMS today".
"""

from collections.abc import Iterable
from datetime import datetime

from orchestration.guardrails.clock import day_start, epoch, week_start
from orchestration.guardrails.reasons import Reason
from orchestration.guardrails.state import SubscriberState
from schemas.guardrails import HORIZON, FrequencyCaps


def _count_since(times: Iterable[int], since: int) -> int:
    return sum(1 for at in times if at >= since)


def cap_reached(
    state: SubscriberState, rule_id: str, caps: FrequencyCaps, now: datetime
) -> Reason | None:
    """The first cap one more send of ``rule_id`` at ``now`` would break, or ``None``."""
    day = epoch(day_start(now))
    # A rolling week is (now - 7 days, now]: the same moment a week later is a fresh slot.
    rolling = epoch(now) - int(HORIZON.total_seconds()) + 1
    week = epoch(week_start(now)) if caps.week == "calendar" else rolling
    rule_times = state.sent.get(rule_id, ())
    all_times = [at for times in state.sent.values() for at in times]
    checks: tuple[tuple[int | None, Iterable[int], int, Reason], ...] = (
        (caps.rule_per_day, rule_times, day, "frequency_cap_rule_day"),
        (caps.rule_per_week, rule_times, week, "frequency_cap_rule_week"),
        (caps.all_per_day, all_times, day, "frequency_cap_day"),
        (caps.all_per_week, all_times, week, "frequency_cap_week"),
    )
    for cap, times, since, reason in checks:
        if cap is not None and _count_since(times, since) >= cap:
            return reason
    return None
