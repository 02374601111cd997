"""Local time for guardrails: every day, week and quiet hour is the subscriber's, not UTC's.

The whole province lives in Asia/Shanghai (UTC+8, no daylight saving since 1991), so a nudge at
23:30 and one at 00:30 local time fall on different days even though both are 15:30/16:30 UTC
of the same date. State stores instants as integer epoch seconds: small in a faust table and
free of time-zone ambiguity.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def to_local(now: datetime) -> datetime:
    """``now`` in the province's local time; refuses naive datetimes, whose zone is a guess."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(
            f"guardrails need an aware datetime, got naive {now.isoformat()}; "
            "pass e.g. datetime.now(UTC)"
        )
    return now.astimezone(LOCAL_TZ)


def epoch(moment: datetime) -> int:
    """Whole epoch seconds of an aware instant (sub-second precision does not matter to caps)."""
    return int(to_local(moment).timestamp())


def local_midnight(day: date) -> datetime:
    """00:00 local time on ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)


def day_start(now: datetime) -> datetime:
    """Start of the local calendar day containing ``now``."""
    return local_midnight(to_local(now).date())


def week_start(now: datetime) -> datetime:
    """Start of the local calendar week (Monday 00:00, as ISO weeks and Chinese calendars do)."""
    today = to_local(now).date()
    return local_midnight(today - timedelta(days=today.weekday()))
