"""Quiet hours in Asia/Shanghai wall-clock time: edges, midnight, same-day windows, UTC input."""

from datetime import UTC, datetime, time

import pytest

from orchestration.guardrails import LOCAL_TZ, QuietHours
from orchestration.guardrails.quiet_hours import quiet_until

NIGHT = QuietHours(start=time(21, 0), end=time(8, 0))  # crosses midnight
LUNCH = QuietHours(start=time(12, 0), end=time(14, 0))  # does not


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, second, tzinfo=LOCAL_TZ)


@pytest.mark.parametrize(
    ("window", "now", "opens"),
    [
        (NIGHT, local(10, 20, 59, 59), None),
        (NIGHT, local(10, 21, 0), local(11, 8, 0)),  # exactly at start: quiet
        (NIGHT, local(10, 23, 59, 59), local(11, 8, 0)),
        (NIGHT, local(11, 0, 0), local(11, 8, 0)),  # after midnight: opens the same day
        (NIGHT, local(11, 7, 59, 59), local(11, 8, 0)),
        (NIGHT, local(11, 8, 0), None),  # exactly at end: open
        (NIGHT, local(11, 12, 0), None),
        (LUNCH, local(10, 11, 59, 59), None),
        (LUNCH, local(10, 12, 0), local(10, 14, 0)),
        (LUNCH, local(10, 13, 30), local(10, 14, 0)),
        (LUNCH, local(10, 14, 0), None),
        (LUNCH, local(10, 23, 0), None),
        (LUNCH, local(10, 1, 0), None),
        # the month/year turn over correctly
        (NIGHT, datetime(2025, 12, 31, 22, 0, tzinfo=LOCAL_TZ),
         datetime(2026, 1, 1, 8, 0, tzinfo=LOCAL_TZ)),
    ],
)  # fmt: skip
def test_quiet_until(window: QuietHours, now: datetime, opens: datetime | None) -> None:
    assert quiet_until(window, now) == opens


@pytest.mark.parametrize(
    ("utc", "opens_utc"),
    [
        (datetime(2025, 3, 10, 12, 59, tzinfo=UTC), None),  # 20:59 local
        (datetime(2025, 3, 10, 13, 0, tzinfo=UTC), datetime(2025, 3, 11, 0, 0, tzinfo=UTC)),
        (datetime(2025, 3, 10, 16, 30, tzinfo=UTC), datetime(2025, 3, 11, 0, 0, tzinfo=UTC)),
        (datetime(2025, 3, 10, 23, 59, tzinfo=UTC), datetime(2025, 3, 11, 0, 0, tzinfo=UTC)),
        (datetime(2025, 3, 11, 0, 0, tzinfo=UTC), None),  # 08:00 local
    ],
)
def test_utc_inputs_are_judged_in_local_time(utc: datetime, opens_utc: datetime | None) -> None:
    assert quiet_until(NIGHT, utc) == opens_utc


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        quiet_until(NIGHT, datetime(2025, 3, 10, 22, 0))


def test_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="quiet hours start and end"):
        QuietHours(start=time(8, 0), end=time(8, 0))
