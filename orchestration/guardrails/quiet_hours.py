"""Quiet hours: a daily local-time window in which no nudge goes out.

The window is ``[start, end)`` on the local wall clock: a nudge exactly at ``start`` is quiet,
one exactly at ``end`` may go. Asia/Shanghai has no daylight saving, so every local day has
each wall-clock time exactly once and "the next ``end``" is unambiguous.
"""

from datetime import datetime, timedelta

from orchestration.guardrails.clock import LOCAL_TZ, to_local
from schemas.guardrails import QuietHours


def quiet_until(window: QuietHours, now: datetime) -> datetime | None:
    """When the quiet window containing ``now`` opens again (aware, local), or ``None``.

    ``None`` means ``now`` is outside the window and the nudge may go now.
    """
    local = to_local(now)
    clock = local.time().replace(tzinfo=None)
    today = local.date()
    if window.start < window.end:  # same-day window, e.g. 12:00-14:00
        quiet = window.start <= clock < window.end
        opens = today
    elif clock >= window.start:  # evening part of a window crossing midnight
        quiet, opens = True, today + timedelta(days=1)
    else:  # morning part of a window crossing midnight
        quiet, opens = clock < window.end, today
    if not quiet:
        return None
    return datetime.combine(opens, window.end, tzinfo=LOCAL_TZ)
