"""Event volume per channel from ``volume_per_five_minutes`` and ``events_per_minute``, and
the pipeline's health signals.

A range is read as its whole five-minute blocks from ``volume_per_five_minutes`` (no event
type, which the page neither filters nor shows: a week is some 2,000 rows per channel,
prefecture and brand) and the minutes at either end from ``events_per_minute``; a chart of
one-minute buckets reads minutes only. The same sums, since both count the same inserted
events. Both are SummingMergeTrees: rows for one key collapse only when parts merge, so every
read sums ``events`` under a GROUP BY and never trusts a single row. The sink removes
duplicates before insert, so those sums count each event once.

Times cross as Unix seconds (``toDateTime(%(start)s)``), which means the same instant whatever
the server's or the column's time zone. Chart buckets are computed with ``intDiv`` instead of
``toStartOfInterval`` (absent on 18.16) and shifted by Shanghai's fixed UTC+8, so hour and day
buckets start at the province's midnight.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_driver import Client

from dashboards.filters import VolumeFilter
from schemas.envelope import BRANDS, CHANNELS, PREFECTURES

#: Asia/Shanghai has had no daylight saving since 1991: a constant offset is exact.
SHANGHAI_OFFSET_S = 8 * 3600
BLOCK_S = 300

#: One constant condition per filter field, used only when that field selects something.
_IN_CONDITIONS: dict[str, str] = {
    "channels": "channel IN %(channels)s",
    "prefectures": "prefecture IN %(prefectures)s",
    "brands": "brand IN %(brands)s",
}

#: The range's rows: its whole five-minute blocks from ``volume_per_five_minutes``, the
#: minutes before the first block and after the last from ``events_per_minute``.
_ROWS = """
SELECT {columns}, events FROM volume_per_five_minutes
WHERE five_minutes >= toDateTime(%(blocks_start)s) AND five_minutes < toDateTime(%(blocks_end)s)
  AND {where}
UNION ALL
SELECT {minute_columns}, events FROM events_per_minute
WHERE (minute >= toDateTime(%(start)s) AND minute < toDateTime(%(blocks_start)s)
       OR minute >= toDateTime(%(blocks_end)s) AND minute < toDateTime(%(end)s))
  AND {where}
"""

BREAKDOWN = f"""
SELECT channel, prefecture, brand, sum(events) AS n
FROM ({
    _ROWS.replace("{columns}", "channel, prefecture, brand").replace(
        "{minute_columns}", "channel, prefecture, brand"
    )
})
GROUP BY channel, prefecture, brand
"""

SERIES = f"""
SELECT intDiv(toUInt32(at) + %(offset)s, %(bucket)s) * %(bucket)s - %(offset)s AS bucket,
       channel,
       sum(events) AS n
FROM ({
    _ROWS.replace("{columns}", "five_minutes AS at, channel").replace(
        "{minute_columns}", "minute AS at, channel"
    )
})
GROUP BY bucket, channel
"""

MINUTE_TOTAL = """
SELECT sum(events) FROM events_per_minute
WHERE minute = toDateTime(%(minute)s)
"""

#: The newest minute of all time, read from the per-partition minutes (a row per minute and
#: partition) rather than ``events_per_minute`` (a row per minute, channel, event type,
#: prefecture and brand): the same minutes in far fewer rows.
NEWEST_MINUTE = "SELECT max(minute), count() FROM events_per_partition_minute"

DEAD_LETTERS = "SELECT count() FROM dead_letters FINAL"


@dataclass(frozen=True)
class Breakdown:
    """Events in the filtered range per (channel, prefecture, brand); the page's numbers."""

    counts: dict[tuple[str, str, str], int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_channel(self) -> dict[str, int]:
        """Every channel, in vocabulary order, with 0 where nothing happened."""
        totals = dict.fromkeys(CHANNELS, 0)
        for (channel, _, _), events in self.counts.items():
            totals[channel] = totals.get(channel, 0) + events
        return totals

    def by_prefecture(self) -> dict[str, dict[str, int]]:
        """Prefecture → channel → events, every prefecture present."""
        return self._split(1, PREFECTURES)

    def by_brand(self) -> dict[str, dict[str, int]]:
        """Brand → channel → events; ``''`` (equipment events) only when it occurs."""
        return self._split(2, BRANDS)

    def _split(self, position: int, vocabulary: tuple[str, ...]) -> dict[str, dict[str, int]]:
        split: dict[str, dict[str, int]] = {value: {} for value in vocabulary}
        for key, events in self.counts.items():
            per_channel = split.setdefault(key[position], {})
            per_channel[key[0]] = per_channel.get(key[0], 0) + events
        return split


@dataclass(frozen=True)
class Series:
    """Events per chart bucket per channel, gaps filled with zero so lines do not bridge them.

    ``rates[channel][i]`` is events per minute in ``buckets[i]``: the count divided by the
    minutes of that bucket inside the range, so a bucket the range cuts short is not a dip.
    """

    bucket_seconds: int
    buckets: list[datetime]
    counts: dict[str, list[int]]
    rates: dict[str, list[float]]


@dataclass(frozen=True)
class Health:
    """Is data arriving? Unfiltered on purpose: it describes the pipeline, not the selection."""

    events_last_minute: int
    """Events that occurred in the last complete minute before ``now``."""
    newest_minute: datetime | None
    """The newest minute with any event, ``None`` when ClickHouse holds no events at all."""
    dead_letters: int


def breakdown(client: Client, f: VolumeFilter) -> Breakdown:
    where, params = _where(f, BLOCK_S)
    rows = client.execute(BREAKDOWN.format(where=where), params)
    return Breakdown({(c, p, b): int(events) for c, p, b, events in rows})


def series(client: Client, f: VolumeFilter) -> Series:
    bucket = f.bucket_seconds
    # A block lies in one bucket when buckets are whole blocks (Shanghai is UTC+8, whole too).
    where, params = _where(f, BLOCK_S if bucket % BLOCK_S == 0 else None)
    rows = client.execute(
        SERIES.format(where=where), {**params, "bucket": bucket, "offset": SHANGHAI_OFFSET_S}
    )
    buckets = bucket_starts(f)
    index = {int(b.timestamp()): i for i, b in enumerate(buckets)}
    channels = f.channels or CHANNELS
    counts = {channel: [0] * len(buckets) for channel in channels}
    for start_s, channel, events in rows:
        counts.setdefault(channel, [0] * len(buckets))[index[start_s]] += int(events)
    minutes = [_minutes_inside(b, bucket, f) for b in buckets]
    rates = {
        channel: [n / m for n, m in zip(values, minutes, strict=True)]
        for channel, values in counts.items()
    }
    return Series(bucket_seconds=bucket, buckets=buckets, counts=counts, rates=rates)


def health(client: Client, now: datetime) -> Health:
    last_minute = now.replace(second=0, microsecond=0) - timedelta(minutes=1)
    [(events,)] = client.execute(MINUTE_TOTAL, {"minute": int(last_minute.timestamp())})
    [(newest, rows)] = client.execute(NEWEST_MINUTE)
    [(dead,)] = client.execute(DEAD_LETTERS)
    return Health(
        events_last_minute=int(events),
        newest_minute=_as_utc(newest) if rows else None,
        dead_letters=int(dead),
    )


def bucket_starts(f: VolumeFilter) -> list[datetime]:
    """Every bucket that overlaps the range, aligned to Shanghai time like the SQL's."""
    size = f.bucket_seconds
    first = (int(f.start.timestamp()) + SHANGHAI_OFFSET_S) // size * size - SHANGHAI_OFFSET_S
    end = int(f.end.timestamp())
    return [datetime.fromtimestamp(s, UTC) for s in range(first, end, size)]


def _minutes_inside(bucket: datetime, size: int, f: VolumeFilter) -> float:
    inside = min(bucket + timedelta(seconds=size), f.end) - max(bucket, f.start)
    return inside / timedelta(minutes=1)


def _where(f: VolumeFilter, block: int | None) -> tuple[str, dict[str, Any]]:
    """The filter's WHERE clause built from constant fragments only, and the parameters of
    :data:`_ROWS`: the whole blocks of ``block`` seconds inside the range when ``block`` is
    given, else none (every minute of the range read from ``events_per_minute``)."""
    start, end = int(f.start.timestamp()), int(f.end.timestamp())
    blocks_start = min(-(-start // block) * block, end) if block else end
    blocks_end = max(blocks_start, end // block * block) if block else end
    params: dict[str, Any] = {
        "start": start, "end": end, "blocks_start": blocks_start, "blocks_end": blocks_end
    }  # fmt: skip
    conditions = ["1"]
    for field, condition in _IN_CONDITIONS.items():
        values = getattr(f, field)
        if values:
            conditions.append(condition)
            params[field] = tuple(values)
    return " AND ".join(conditions), params


def _as_utc(moment: datetime) -> datetime:
    """clickhouse-driver returns naive datetimes for DateTime('UTC') columns: they are UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
