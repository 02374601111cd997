"""Data health: is data coming in, what is being rejected, how far behind, how complete.

The ClickHouse functions take a client and plain values and return plain data, tested against
a real server. The intake rate and the completeness read aggregate tables
(:mod:`sinks.tables.volume_rollups`) instead of scanning ``events``, whose sort key leads with
neither the ingest time nor the partition; the minute a partition has moved past is all
completeness needs of its newest event. :func:`consumer_lag` asks the broker instead: it
never raises, because a broker that does not answer must make the health line say "unknown",
not break the page.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clickhouse_driver import Client
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError

from kernel import kafka

log = logging.getLogger(__name__)

INTAKE_WINDOW = timedelta(minutes=1)
#: How far back dead letters are counted and partitions are looked at for completeness.
LOOKBACK = timedelta(days=1)
#: Dead-letter payloads are cut to this many characters for display.
EXAMPLE_CHARS = 300

INGESTED = """
SELECT sum(events) FROM events_ingested_per_second
WHERE ingested_at >= toDateTime(%(start)s) AND ingested_at < toDateTime(%(end)s)
"""

DEAD_LETTERS_BY_REASON = """
SELECT reason_code,
       count() AS n,
       max(received_at) AS newest,
       argMax(field, received_at),
       argMax(message, received_at),
       argMax(payload, received_at)
FROM dead_letters FINAL
WHERE received_at >= toDateTime(%(since)s)
GROUP BY reason_code
ORDER BY n DESC, reason_code
"""

NEWEST_PER_PARTITION = """
SELECT kafka_partition, max(minute) FROM events_per_partition_minute
WHERE minute >= toDateTime(%(since)s)
GROUP BY kafka_partition
"""


@dataclass(frozen=True)
class DeadLetterReason:
    """One rejection reason: how often since the cut-off, and its newest example."""

    reason_code: str
    count: int
    newest_at: datetime
    field: str
    message: str
    example: str
    """The newest payload of this reason, as stored: MSISDNs already masked by the sink."""


@dataclass(frozen=True)
class Completeness:
    """The newest minute every partition of the events topic has moved past.

    Events are keyed by subscriber, so each partition is written roughly in event-time order:
    once a partition holds an event of minute ``m``, its earlier minutes are in. The minute
    before the slowest partition's newest minute is therefore complete on all of them; the
    minutes after it may still grow.
    """

    complete_through: datetime | None
    """``None`` while a partition has written nothing since the start of the minute
    :data:`LOOKBACK` before now."""
    missing_partitions: tuple[int, ...]


def events_per_second(client: Client, now: datetime, window: timedelta = INTAKE_WINDOW) -> float:
    """Events written to ClickHouse per second over the whole seconds of ``window`` to ``now``.

    By ``ingested_at`` (when the sink wrote them), not event time: a backfill of old events is
    intake too, and it is the rate the pipeline is taking in now that the line reports.
    """
    end = int(now.timestamp())
    start = end - int(window.total_seconds())
    [(n,)] = client.execute(INGESTED, {"start": start, "end": end})
    return int(n) / (end - start)


def dead_letters(client: Client, since: datetime) -> list[DeadLetterReason]:
    """Dead letters received since ``since`` per reason, most frequent first."""
    rows = client.execute(DEAD_LETTERS_BY_REASON, {"since": int(since.timestamp())})
    return [
        DeadLetterReason(
            reason_code=reason,
            count=int(n),
            newest_at=_as_utc(newest),
            field=field,
            message=message,
            example=payload[:EXAMPLE_CHARS],
        )
        for reason, n, newest, field, message, payload in rows
    ]


def completeness(client: Client, partitions: int, now: datetime) -> Completeness:
    """How complete the data is across ``partitions`` partitions of the events topic."""
    since = (now - LOOKBACK).replace(second=0, microsecond=0)
    rows = client.execute(NEWEST_PER_PARTITION, {"since": int(since.timestamp())})
    newest = {int(p): _as_utc(t) for p, t in rows}
    missing = tuple(p for p in range(partitions) if p not in newest)
    if missing:
        return Completeness(complete_through=None, missing_partitions=missing)
    minute = min(newest[p] for p in range(partitions)) - timedelta(minutes=1)
    return Completeness(complete_through=minute, missing_partitions=())


def consumer_lag(
    bootstrap: str, groups: list[str], timeout_ms: int = 1500
) -> dict[str, int | None]:
    """Messages not yet committed per consumer group; ``None`` where it cannot be known.

    Lag is the end offset minus the committed offset, summed over every partition the group
    has committed, each clamped at zero. A group with no committed offsets (not started yet)
    is ``None``; so is every group when the broker does not answer within ``timeout_ms``.
    On Tansu the end offset is the first offset of the newest record batch + 1, so the lag can
    read up to one batch low; a real Kafka reports it exactly.
    """
    unknown: dict[str, int | None] = dict.fromkeys(groups)
    try:
        admin = kafka.admin(bootstrap, "channelhub-dashboard", timeout_ms)
    except (KafkaError, OSError) as e:
        log.warning("consumer lag unknown: %s", e)
        return unknown
    try:
        # One group per request: brokers before OffsetFetch v8 (Tansu too) take only one.
        committed = {
            group: {
                tp: meta.offset
                for tp, meta in admin.list_group_offsets(group).get(group, {}).items()
                if meta.offset >= 0
            }
            for group in groups
        }
        wanted = {tp: OffsetSpec.LATEST for offsets in committed.values() for tp in offsets}
        ends = admin.list_partition_offsets(wanted) if wanted else {}
        return {
            group: sum(max(0, ends[tp].offset - at) for tp, at in offsets.items())
            if offsets
            else None
            for group, offsets in committed.items()
        }
    except (KafkaError, OSError, KeyError) as e:
        log.warning("consumer lag unknown: %s", e)
        return unknown
    finally:
        admin.close()


def _as_utc(moment: datetime) -> datetime:
    """clickhouse-driver returns naive datetimes for DateTime('UTC') columns: they are UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
