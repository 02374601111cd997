"""The web and WAP halls: which functions people use, and whether numbers chosen online are
activated in time.

A number reserved in the web hall must be activated at a business hall within
:data:`ACTIVATION_WINDOW`. Reservations made in the range are followed by their
``reservation_id`` for that long after the range; one not activated whose window has not run
out at ``as_of`` is *waiting*, not lost. ``events`` is read without ``FINAL``: a reservation
is counted once by its id, and its times are minima, which a duplicate that slipped past the
sink does not change, while ``FINAL`` would merge every part it reads as it reads it.
Functions are read from ``hall_functions_per_minute`` (:mod:`sinks.tables.channel_rollups`):
whole-minute ranges, uses counted as the sink inserted them (no duplicates), users exact from
merged ``uniqExact`` states.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from clickhouse_driver import Client

ACTIVATION_WINDOW = timedelta(hours=48)
HALLS = ("web", "wap")

_MS = "toUInt64(occurred_at) * 1000 + occurred_ms"

FUNCTIONS = """
SELECT channel, function, countMerge(uses) AS uses, uniqExactMerge(users) AS users
FROM hall_functions_per_minute
WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s)
GROUP BY channel, function
"""

RESERVATIONS = f"""
SELECT count() AS reserved,
       countIf(activated_ms > 0 AND activated_ms <= reserved_ms + %(window_ms)s) AS in_time,
       countIf(activated_ms = 0 AND reserved_ms + %(window_ms)s > %(as_of_ms)s) AS waiting
FROM (
    SELECT visitParamExtractString(attributes, 'reservation_id') AS reservation,
           minIf({_MS}, event_type = 'web.number_reserved') AS reserved_ms,
           minIf({_MS}, event_type = 'web.number_activated') AS activated_ms
    FROM events
    WHERE channel = 'web' AND event_type IN ('web.number_reserved', 'web.number_activated')
      AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(until)s)
    GROUP BY reservation
    HAVING countIf(event_type = 'web.number_reserved' AND occurred_at < toDateTime(%(end)s)) > 0
)
"""


@dataclass(frozen=True)
class Function:
    hall: str
    function: str
    uses: int
    users: int


@dataclass(frozen=True)
class Reservations:
    """Numbers reserved in the range: activated within the window, still waiting, or lapsed."""

    reserved: int
    in_time: int
    waiting: int

    @property
    def lapsed(self) -> int:
        return self.reserved - self.in_time - self.waiting


def functions(client: Client, start: datetime, end: datetime) -> list[Function]:
    """Every function used in either hall, most used first."""
    rows = client.execute(FUNCTIONS, _range(start, end))
    found = [Function(hall, name, int(uses), int(users)) for hall, name, uses, users in rows]
    return sorted(found, key=lambda f: (-f.uses, f.hall, f.function))


def reservations(client: Client, start: datetime, end: datetime, as_of: datetime) -> Reservations:
    params = {
        **_range(start, end),
        "until": int((end + ACTIVATION_WINDOW).timestamp()),
        "window_ms": int(ACTIVATION_WINDOW.total_seconds() * 1000),
        "as_of_ms": int(as_of.timestamp() * 1000),
    }
    [(reserved, in_time, waiting)] = client.execute(RESERVATIONS, params)
    return Reservations(int(reserved), int(in_time), int(waiting))


def _range(start: datetime, end: datetime) -> dict[str, int]:
    return {"start": int(start.timestamp()), "end": int(end.timestamp())}
