"""Frequency caps counted in local days and weeks, from the sends a subscriber state remembers."""

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from orchestration.guardrails import LOCAL_TZ, FrequencyCaps, SubscriberState
from orchestration.guardrails.frequency import cap_reached
from orchestration.guardrails.reasons import Reason

NO_CAPS = FrequencyCaps(rule_per_day=None, rule_per_week=None, all_per_day=None, all_per_week=None)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in March 2025; the 10th is a Monday, the 16th a Sunday."""
    return datetime(2025, 3, day, hour, minute, tzinfo=LOCAL_TZ)


def sent(*sends: tuple[str, datetime]) -> SubscriberState:
    state = SubscriberState()
    for rule, at in sorted(sends, key=lambda send: send[1]):
        state = state.record_send(rule, at)
    return state


def caps(**limits: Any) -> FrequencyCaps:
    """Only the caps named; the others off."""
    return msgspec.structs.replace(NO_CAPS, **limits)


@pytest.mark.parametrize(
    ("state", "limits", "now", "reason"),
    [
        # one per rule per local day: 23:30 and 00:30 local are different days...
        (sent(("a", local(11, 23, 30))), caps(rule_per_day=1), local(12, 0, 30), None),
        # ...even though in UTC both are on the 11th (15:30Z and 16:30Z)
        (sent(("a", local(11, 23, 30).astimezone(UTC))), caps(rule_per_day=1),
         local(12, 0, 30).astimezone(UTC), None),
        (sent(("a", local(12, 0, 10))), caps(rule_per_day=1), local(12, 23, 59),
         "frequency_cap_rule_day"),
        # 07:59 UTC and 16:01 UTC on the same UTC date are different local days
        (sent(("a", datetime(2025, 3, 11, 7, 59, tzinfo=UTC))), caps(rule_per_day=1),
         datetime(2025, 3, 11, 16, 1, tzinfo=UTC), None),
        # another rule's sends do not count toward this rule's cap, but toward the total
        (sent(("b", local(12, 9))), caps(rule_per_day=1), local(12, 10), None),
        (sent(("b", local(12, 9))), caps(all_per_day=1), local(12, 10), "frequency_cap_day"),
        (sent(("a", local(12, 9)), ("b", local(12, 9, 5))), caps(rule_per_day=2, all_per_day=2),
         local(12, 10), "frequency_cap_day"),
        # calendar week: Sunday 23:59 local is last week, Monday 00:00 local starts a new one
        (sent(("a", local(16, 23, 59))), caps(rule_per_week=1), local(17, 0, 0), None),
        (sent(("a", local(17, 0, 0))), caps(rule_per_week=1), local(17, 0, 1),
         "frequency_cap_rule_week"),
        (sent(("a", local(10, 0, 0))), caps(rule_per_week=1), local(16, 23, 59),
         "frequency_cap_rule_week"),
        (sent(("b", local(11, 9)), ("c", local(13, 9))), caps(all_per_week=2), local(15, 9),
         "frequency_cap_week"),
        # rolling week: (now - 7 days, now], across the calendar week boundary
        (sent(("a", local(16, 23, 59))), caps(rule_per_week=1, week="rolling"), local(17, 0, 0),
         "frequency_cap_rule_week"),
        (sent(("a", local(10, 12, 0))), caps(rule_per_week=1, week="rolling"), local(17, 11, 59),
         "frequency_cap_rule_week"),
        (sent(("a", local(10, 12, 0))), caps(rule_per_week=1, week="rolling"), local(17, 12, 0),
         None),
        (sent(("b", local(11, 9))), caps(all_per_week=1, week="rolling"), local(17, 9),
         "frequency_cap_week"),
        # the most specific cap is reported first
        (sent(("a", local(12, 9))), caps(rule_per_day=1, rule_per_week=1, all_per_day=1,
         all_per_week=1), local(12, 10), "frequency_cap_rule_day"),
        (sent(("a", local(11, 9))), caps(rule_per_day=1, rule_per_week=1, all_per_day=1,
         all_per_week=1), local(12, 10), "frequency_cap_rule_week"),
        (sent(("b", local(11, 9))), caps(rule_per_week=1, all_per_day=1, all_per_week=1),
         local(12, 10), "frequency_cap_week"),
        # a cap of zero never sends; no caps always sends
        (SubscriberState(), caps(rule_per_day=0), local(12, 10), "frequency_cap_rule_day"),
        (sent(*[("a", local(12, h)) for h in range(9)]), NO_CAPS, local(12, 10), None),
    ],
)  # fmt: skip
def test_caps(
    state: SubscriberState, limits: FrequencyCaps, now: datetime, reason: Reason | None
) -> None:
    assert cap_reached(state, "a", limits, now) == reason


def test_sends_older_than_a_week_are_pruned() -> None:
    state = sent(("a", local(1, 9)), ("b", local(2, 9)), ("a", local(9, 9)))
    assert set(state.sent) == {"a"}
    assert state.sent["a"] == (int(local(9, 9).timestamp()),)


def test_sends_within_the_week_are_kept() -> None:
    state = sent(("a", local(10, 9)), ("b", local(16, 8, 59)))
    assert state.sent == {
        "a": (int(local(10, 9).timestamp()),),
        "b": (int(local(16, 8, 59).timestamp()),),
    }
    # exactly 7 days later the first send is out of every week a cap can look at
    assert state.record_send("a", local(17, 9)).sent["a"] == (int(local(17, 9).timestamp()),)
