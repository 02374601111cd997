"""The IVR agent queue from raw ``events``: what ops watch live, and what alert rules test.

Every function takes ``now`` (a whole second, UTC) instead of reading the clock, so a test
can place known events around it and recompute every number in plain Python. Windows are
``[start, now)`` on ``occurred_at`` (whole seconds); events at or after ``now`` do not exist yet.

Definitions (each call's events share its ``session_id``):

- **Waiting now**: a session with ``ivr.queue_entered`` in the last hour and no
  ``ivr.agent_answered``, ``ivr.abandoned`` or ``ivr.call_ended`` in that hour. The hour bounds
  the scan; nobody waits that long (mean patience is well under two minutes).
- A call *leaves the queue* in the window when its ``ivr.agent_answered`` or ``ivr.abandoned``
  occurs there; its wait is that event's ``wait_s``.
- **Short abandons**: abandoned with ``wait_s < grace_s`` (default 5 s): misdials and instant
  hang-ups that no staffing could have answered. They count in the wait percentiles only.
- **Service level** = answered with ``wait_s <= threshold_s`` / (answered + abandoned after the
  grace); the "80/20" convention is a target of 0.8 with ``threshold_s = 20``.
- **Abandonment rate** = abandoned after the grace / (answered + abandoned after the grace),
  the same denominator, so the two rates read on one scale.
- **ASA** (average speed of answer) = mean ``wait_s`` of the answered calls.
- **Wait p50/p90/p99**: exact quantiles (``quantilesExact``: the element at index
  ``floor(level * n)`` of the sorted waits, no interpolation) of every wait that ended in the
  window, answered or abandoned.
- **Occupancy** = agent talk time inside the window / (agents * window length). Talk time of
  a call runs from ``ivr.agent_answered`` to the session's ``ivr.call_ended`` (or ``now`` when
  it has not ended), to the second, for calls answered up to two hours before the window. An
  agent takes one call at a time, so a call also ends, at the latest, when its agent answers
  the next one: a call whose end event never came (a dropped line, a restarted feed) would
  otherwise count as talk until ``now`` and push occupancy over 100%.
  *Agents* are the distinct ``agent_id`` values with talk time inside the window: an estimate,
  because an agent who is logged in but idle the whole window is invisible in the events, so
  occupancy is an upper bound when the queue is quiet.

Rows are read without ``FINAL``: the sink removes duplicates before inserting, as for the
volume page. Five-minute buckets (``toStartOfFiveMinute``) align with Shanghai time too,
because UTC+8 is a whole number of five-minute steps.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_driver import Client

from schemas.envelope import PREFECTURES

WAITING_LOOKBACK = timedelta(hours=1)
TALK_LOOKBACK = timedelta(hours=2)
BUCKET = timedelta(minutes=5)
LEVELS = (0.5, 0.9, 0.99)
#: The KPI windows and chart spans the queue page offers, by the value its controls send.
WINDOW_MINUTES = {"5": 5, "15": 15, "60": 60}
HISTORY_HOURS = {"1": 1, "3": 3, "6": 6, "12": 12, "24": 24}

#: The grouping of :data:`STATS`: a constant chosen by code, never text from a user.
_KEYS = {
    "all": "''",
    "prefecture": "prefecture",
    "bucket": "toUInt32(toStartOfFiveMinute(occurred_at))",
}

STATS = """
SELECT {key} AS k,
       countIf(event_type = 'ivr.agent_answered') AS answered,
       countIf(event_type = 'ivr.agent_answered' AND wait <= %(threshold)s) AS in_time,
       countIf(event_type = 'ivr.abandoned' AND wait >= %(grace)s) AS abandoned,
       countIf(event_type = 'ivr.abandoned' AND wait < %(grace)s) AS short_abandoned,
       sumIf(wait, event_type = 'ivr.agent_answered') AS answered_wait,
       quantilesExact({levels})(wait) AS waits
FROM (
    SELECT event_type, prefecture, occurred_at,
           visitParamExtractFloat(attributes, 'wait_s') AS wait
    FROM events
    WHERE channel = 'ivr'
      AND event_type IN ('ivr.agent_answered', 'ivr.abandoned')
      AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(end)s)
)
GROUP BY k
"""

#: The callers who joined the queue in the lookback and have not left it: the sessions of the
#: ``ivr.queue_entered`` events in it, less those with an event that ends the wait (one
#: set of session ids, not a group of every queue event by session).
WAITING = """
SELECT prefecture, uniqExact(session_id)
FROM events
WHERE channel = 'ivr' AND event_type = 'ivr.queue_entered'
  AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(end)s)
  AND session_id NOT IN (
      SELECT session_id
      FROM events
      WHERE channel = 'ivr'
        AND event_type IN ('ivr.agent_answered', 'ivr.abandoned', 'ivr.call_ended')
        AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(end)s)
  )
GROUP BY prefecture
"""

_ANSWERED = (
    "channel = 'ivr' AND event_type = 'ivr.agent_answered' "
    "AND occurred_at >= toDateTime(%(lookback)s) AND occurred_at < toDateTime(%(end)s)"
)

#: Per agent, the calls answered (sorted by answer time), each running from its answer to the
#: earlier of its end and the agent's next answer, clipped to the window. The lambda takes the
#: starts, ends and next starts as parallel arrays: one that read ``calls[i + 1]`` would copy
#: the agent's whole array for every call. Only the answered calls' endings are grouped.
OCCUPANCY = f"""
SELECT countIf(talk > 0), sum(talk) FROM (
    SELECT agent,
           arraySort(groupArray((toInt64(answered), session_id,
                                 toInt64(if(ended = 0, %(end)s, ended))))) AS calls,
           arrayMap(c -> tupleElement(c, 1), calls) AS starts,
           arraySum(arrayMap(
               (answered, ended, next) -> greatest(toInt64(0),
                                                   least(ended, next)
                                                   - greatest(answered, toInt64(%(start)s))),
               starts,
               arrayMap(c -> tupleElement(c, 3), calls),
               arrayPushBack(arrayPopFront(starts), toInt64(%(end)s)))) AS talk
    FROM (
        SELECT session_id, visitParamExtractString(attributes, 'agent_id') AS agent,
               toUInt32(occurred_at) AS answered
        FROM events
        WHERE {_ANSWERED}
    ) AS answers
    ANY LEFT JOIN (
        SELECT session_id, toUInt32(min(occurred_at)) AS ended
        FROM events
        WHERE channel = 'ivr' AND event_type = 'ivr.call_ended'
          AND occurred_at >= toDateTime(%(lookback)s) AND occurred_at < toDateTime(%(end)s)
          AND session_id IN (SELECT session_id FROM events WHERE {_ANSWERED})
        GROUP BY session_id
    ) AS endings USING session_id
    GROUP BY agent
)
"""


NEWEST = """
SELECT max(occurred_at), count() FROM events
WHERE channel = 'ivr' AND event_type = 'ivr.queue_entered' AND occurred_at < toDateTime(%(end)s)
"""


@dataclass(frozen=True)
class Rules:
    """How calls are judged: the service-level threshold and the short-abandon grace."""

    threshold_s: float = 20.0
    grace_s: float = 5.0


@dataclass(frozen=True)
class QueueStats:
    """Calls that left the queue in one window (and one prefecture or bucket)."""

    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    """Abandoned after the grace: the ones that count against service."""
    short_abandoned: int = 0
    answered_wait_s: float = 0.0
    wait_percentiles: tuple[float, float, float] | None = None
    """p50, p90, p99 of every wait that ended; ``None`` when no call left the queue."""

    @property
    def judged(self) -> int:
        """The denominator of service level and abandonment rate."""
        return self.answered + self.abandoned

    @property
    def service_level(self) -> float | None:
        return self.answered_in_time / self.judged if self.judged else None

    @property
    def abandonment_rate(self) -> float | None:
        return self.abandoned / self.judged if self.judged else None

    @property
    def asa_s(self) -> float | None:
        return self.answered_wait_s / self.answered if self.answered else None


@dataclass(frozen=True)
class Occupancy:
    agents: int
    talk_s: int
    window_s: int

    @property
    def ratio(self) -> float | None:
        return self.talk_s / (self.agents * self.window_s) if self.agents else None


@dataclass(frozen=True)
class Snapshot:
    """The queue at ``now`` over ``[start, now)``: the KPI cards and the prefecture table."""

    start: datetime
    now: datetime
    waiting: dict[str, int]
    """Calls waiting now, every prefecture present."""
    overall: QueueStats
    by_prefecture: dict[str, QueueStats]
    """Every prefecture, empty stats where no call left the queue."""
    occupancy: Occupancy

    @property
    def waiting_total(self) -> int:
        return sum(self.waiting.values())


@dataclass(frozen=True)
class Series:
    """Stats per five-minute bucket; every bucket present, the last one still filling."""

    buckets: list[datetime]
    stats: list[QueueStats]


def stats(
    client: Client, start: datetime, now: datetime, rules: Rules, key: str = "all"
) -> dict[Any, QueueStats]:
    """:class:`QueueStats` of ``[start, now)`` grouped by ``key`` (see :data:`_KEYS`)."""
    rows = client.execute(
        STATS.format(key=_KEYS[key], levels=", ".join(map(str, LEVELS))),
        {
            "start": _seconds(start),
            "end": _seconds(now),
            "threshold": float(rules.threshold_s),
            "grace": float(rules.grace_s),
        },
    )
    return {
        k: QueueStats(
            answered=int(answered),
            answered_in_time=int(in_time),
            abandoned=int(abandoned),
            short_abandoned=int(short),
            answered_wait_s=float(wait),
            wait_percentiles=(float(waits[0]), float(waits[1]), float(waits[2])),
        )
        for k, answered, in_time, abandoned, short, wait, waits in rows
        # Grouping by a constant yields one row even over no events: that row means nothing.
        if answered or abandoned or short
    }


def waiting(client: Client, now: datetime) -> dict[str, int]:
    """Calls waiting now per prefecture, every prefecture present."""
    rows = client.execute(
        WAITING, {"start": _seconds(now - WAITING_LOOKBACK), "end": _seconds(now)}
    )
    counts = dict.fromkeys(PREFECTURES, 0)
    counts.update({prefecture: int(n) for prefecture, n in rows})
    return counts


def occupancy(client: Client, start: datetime, now: datetime) -> Occupancy:
    [(agents, talk)] = client.execute(
        OCCUPANCY,
        {
            "lookback": _seconds(start - TALK_LOOKBACK),
            "start": _seconds(start),
            "end": _seconds(now),
        },
    )
    return Occupancy(agents=int(agents), talk_s=int(talk), window_s=_seconds(now) - _seconds(start))


def snapshot(client: Client, now: datetime, window: timedelta, rules: Rules) -> Snapshot:
    start = now - window
    per_prefecture = stats(client, start, now, rules, key="prefecture")
    return Snapshot(
        start=start,
        now=now,
        waiting=waiting(client, now),
        overall=stats(client, start, now, rules).get("", QueueStats()),
        by_prefecture={p: per_prefecture.get(p, QueueStats()) for p in PREFECTURES},
        occupancy=occupancy(client, start, now),
    )


def series(client: Client, now: datetime, hours: int, rules: Rules) -> Series:
    """Five-minute buckets covering the last ``hours`` up to ``now``."""
    first = _seconds(now - timedelta(hours=hours)) // 300 * 300
    starts = list(range(first, _seconds(now), 300))
    per_bucket = stats(client, datetime.fromtimestamp(first, UTC), now, rules, key="bucket")
    return Series(
        buckets=[datetime.fromtimestamp(s, UTC) for s in starts],
        stats=[per_bucket.get(s, QueueStats()) for s in starts],
    )


def newest_call(client: Client, now: datetime) -> datetime | None:
    """When the newest caller joined the queue before ``now``: why a quiet page is quiet."""
    [(newest, calls)] = client.execute(NEWEST, {"end": _seconds(now)})
    return newest.replace(tzinfo=UTC) if calls else None


def spans(window: object, history: object) -> tuple[int, int]:
    """The KPI window in minutes and the chart span in hours; only the offered values pass,
    whatever a hand-made request sends."""
    if not isinstance(window, str) or window not in WINDOW_MINUTES:
        raise ValueError(
            f"window {_quoted(window)} is not one of {', '.join(WINDOW_MINUTES)} minutes"
        )
    if not isinstance(history, str) or history not in HISTORY_HOURS:
        raise ValueError(
            f"history {_quoted(history)} is not one of {', '.join(HISTORY_HOURS)} hours"
        )
    return WINDOW_MINUTES[window], HISTORY_HOURS[history]


def _quoted(value: object) -> str:
    """A user value quoted for a message, cut short so a pasted essay stays one line."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:39]}…"


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())
