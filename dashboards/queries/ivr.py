"""The 10086 IVR deep-dive: where callers go in the menu, what ends in self-service, and how
the personalised lead-in prompts compare.

Everything is counted per call (``session_id``) over the calls that *started* in the range, each
followed for :data:`FOLLOW` after the range so a call that began just before the end still
shows how it ended. A call's menu steps are ``"<key path> <item>"``: branches re-order the
level-2 items of keys 2 and 3, so ``2-1`` is a different item in different prefectures and the
pair, not the key path alone, says where callers went.

``events`` is read without ``FINAL``, which would double the time: every figure counts calls,
built from aggregates a duplicate event that slipped past the sink cannot change (``any``,
``max``, ``argMax``, ``groupUniqArray``, and "did it happen").
Times cross as Unix seconds (``toDateTime(%(start)s)``); milliseconds as
``toUInt64(occurred_at) * 1000 + occurred_ms``.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from clickhouse_driver import Client

#: How long after the range a call that started in it is followed to its end.
FOLLOW = timedelta(hours=2)
#: A self-service call is contained when nobody is heard of again for this long.
RECONTACT_WINDOW = timedelta(hours=24)

#: The step of calls that pressed no key at all: they hung up or pressed 0 in the lead-in.
LEAD_IN = ""

_MS = "toUInt64(occurred_at) * 1000 + occurred_ms"
_STEP = "concat(visitParamExtractString(attributes, 'key_path'), ' ', " \
    "visitParamExtractString(attributes, 'item'))"  # fmt: skip

#: One row per call started in ``[start, end)``; the subquery every IVR figure is built on.
CALLS = f"""
SELECT session_id,
       any(subscriber) AS caller,
       anyIf(prefecture, event_type = 'ivr.call_started') AS call_prefecture,
       anyIf(brand, event_type = 'ivr.call_started') AS call_brand,
       anyIf(visitParamExtractString(attributes, 'lead_in_variant'),
             event_type = 'ivr.call_started') AS variant,
       anyIf(visitParamExtractBool(attributes, 'busy_period'),
             event_type = 'ivr.call_started') AS busy,
       groupUniqArrayIf({_STEP}, event_type = 'ivr.menu_selected') AS steps,
       argMaxIf({_STEP}, {_MS}, event_type = 'ivr.menu_selected') AS last_step,
       countIf(event_type = 'ivr.agent_requested') > 0 AS zero,
       anyIf(visitParamExtractString(attributes, 'outcome'),
             event_type = 'ivr.call_ended') AS outcome,
       maxIf({_MS}, event_type = 'ivr.call_ended') AS ended_ms
FROM events
WHERE channel = 'ivr'
  AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(follow)s)
GROUP BY session_id
HAVING countIf(event_type = 'ivr.call_started' AND occurred_at < toDateTime(%(end)s)) > 0
"""

FUNNEL = f"""
SELECT step,
       count() AS reached,
       countIf(step = last_step) AS stopped,
       countIf(step = last_step AND outcome = 'self_service') AS self_served,
       countIf(step = last_step AND zero) AS pressed_zero,
       countIf(step = last_step AND outcome = 'hangup') AS hung_up,
       countIf(step = last_step AND outcome = 'abandoned') AS abandoned
FROM ({CALLS})
ARRAY JOIN if(empty(steps), [''], steps) AS step
GROUP BY step
"""

LEAD_INS = f"""
SELECT variant, call_prefecture, call_brand, busy,
       count() AS calls,
       countIf(outcome = 'self_service') AS self_served,
       countIf(zero) AS pressed_zero,
       countIf(outcome = 'hangup') AS hung_up
FROM ({CALLS})
GROUP BY variant, call_prefecture, call_brand, busy
"""

#: Every call, and for each self-service one whether its caller came back in another session
#: within the window; the callers' other events are fetched only for self-service callers.
CONTAINMENT = f"""
SELECT count() AS calls,
       countIf(self_service) AS self_service_calls,
       countIf(self_service AND recontacts = 0) AS contained,
       countIf(self_service AND recontacts = 0 AND ended_ms + %(window_ms)s > %(as_of_ms)s)
           AS still_open
FROM (
    SELECT session_id, self_service, ended_ms,
           countIf(other_ms > ended_ms AND other_ms <= ended_ms + %(window_ms)s
                   AND other_session != session_id) AS recontacts
    FROM (
        SELECT session_id, caller AS subscriber, ended_ms,
               outcome = 'self_service' AND NOT zero AS self_service
        FROM ({CALLS})
    ) AS calls
    ALL LEFT JOIN (
        SELECT subscriber, session_id AS other_session, {_MS} AS other_ms
        FROM events
        WHERE occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(until)s)
          AND subscriber IN (SELECT caller FROM ({CALLS}) WHERE outcome = 'self_service')
    ) AS later USING subscriber
    GROUP BY session_id, self_service, ended_ms
)
"""


@dataclass(frozen=True)
class Step:
    """One menu step (key path and item) and what became of the calls that reached it.

    ``stopped`` calls went no deeper; they split into ``self_served``, ``pressed_zero`` (of
    which ``abandoned`` gave up waiting in the queue), ``hung_up`` in the menu, and calls not
    ended yet.
    """

    key_path: str
    item: str
    reached: int
    stopped: int
    self_served: int
    pressed_zero: int
    hung_up: int
    abandoned: int

    @property
    def went_deeper(self) -> int:
        return self.reached - self.stopped


@dataclass(frozen=True)
class LeadIn:
    """Calls that heard one lead-in prompt variant, and how they ended."""

    variant: str
    prefecture: str
    brand: str
    busy: bool
    calls: int
    self_served: int
    pressed_zero: int
    hung_up: int


@dataclass(frozen=True)
class Containment:
    """Calls that started in the range and were settled in self-service for good.

    ``contained``: the call ended in self-service, with no agent request, and the caller had no
    other session on any channel within :data:`RECONTACT_WINDOW` after it ended.
    ``still_open`` of those are younger than the window at ``as_of``, so may yet be re-contacted.
    """

    calls: int
    self_service: int
    contained: int
    still_open: int

    @property
    def rate(self) -> float | None:
        return self.contained / self.calls if self.calls else None


def funnel(client: Client, start: datetime, end: datetime) -> list[Step]:
    """Every menu step reached, deepest-first within its branch (sorted by key path)."""
    rows = client.execute(FUNNEL, _range(start, end))
    steps = []
    for step, *counts in rows:
        key_path, _, item = step.partition(" ")
        steps.append(Step(key_path, item, *(int(n) for n in counts)))
    return sorted(steps, key=lambda s: (s.key_path, s.item))


def lead_ins(client: Client, start: datetime, end: datetime) -> list[LeadIn]:
    """One row per lead-in variant heard, most heard first."""
    rows = client.execute(LEAD_INS, _range(start, end))
    found = [
        LeadIn(variant, prefecture, brand, bool(busy), *(int(n) for n in counts))
        for variant, prefecture, brand, busy, *counts in rows
    ]
    return sorted(found, key=lambda v: (-v.calls, v.variant))


def containment(client: Client, start: datetime, end: datetime, as_of: datetime) -> Containment:
    params = {
        **_range(start, end),
        "until": int((end + FOLLOW + RECONTACT_WINDOW).timestamp()),
        "window_ms": int(RECONTACT_WINDOW.total_seconds() * 1000),
        "as_of_ms": int(as_of.timestamp() * 1000),
    }
    [counts] = client.execute(CONTAINMENT, params)
    return Containment(*(int(n) for n in counts))


def _range(start: datetime, end: datetime) -> dict[str, int]:
    return {
        "start": int(start.timestamp()),
        "end": int(end.timestamp()),
        "follow": int((end + FOLLOW).timestamp()),
    }
