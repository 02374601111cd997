"""The 10086 IVR deep-dive: where callers go in the menu, what ends in self-service, and how
the personalised lead-in prompts compare.

Everything is counted per call (``session_id``) over the calls that *started* in the range (a
call belongs to the range that holds its ``ivr.call_started``), each followed for
:data:`FOLLOW` after the range so a call that began just before the end still shows how it
ended. A call's menu steps are ``"<key path> <item>"``: branches re-order the level-2 items of
keys 2 and 3, so ``2-1`` is a different item in different prefectures and the pair, not the
key path alone, says where callers went.

The calls come from ``ivr_calls_per_hour`` (:mod:`sinks.tables.session_rollups`): per call and
hour, the states of what the panels take of a call, merged here over the hours read. The table
keeps whole hours, so a call counts every event it has from the hour its range starts in to
the end of the hour that holds the range's end plus :data:`FOLLOW`: the same figures as
reading ``events`` from the range's start to exactly :data:`FOLLOW` after its end for every
call whose events all lie after its start and within :data:`FOLLOW` of the range's end, which
is every call that lasts less than :data:`FOLLOW`. Every state is one a duplicate event
cannot change (``any``, ``min``, ``max``, ``argMax``, ``groupUniqArray``).
Re-contact reads ``contacts_per_hour``: each session's first and last event per hour, which
tell exactly whether it had an event in a window of :data:`RECONTACT_WINDOW`.
Times cross as Unix seconds (``toDateTime(%(start)s)``), milliseconds as milliseconds.
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

_HOURS = "hour >= toStartOfHour(toDateTime(%(start)s)) AND hour < toDateTime(%(follow)s)"

#: How each figure of a call is merged from its hours' states.
_MERGED = {
    "caller": "any(subscriber)",
    "call_prefecture": "anyIfMerge(call_prefecture_state)",
    "call_brand": "anyIfMerge(call_brand_state)",
    "variant": "anyIfMerge(variant_state)",
    "busy": "anyIfMerge(busy_state)",
    "steps": "groupUniqArrayIfMerge(steps_state)",
    "last_step": "argMaxIfMerge(last_step_state)",
    "zero": "maxMerge(zero_state)",
    "outcome": "anyIfMerge(outcome_state)",
    "ended_ms": "maxIfMerge(ended_ms_state)",
}


def _calls(*figures: str) -> str:
    """One row per call started in ``[start, end)`` with ``figures``: the subquery every IVR
    panel is built on, merging only what the panel uses."""
    merged = "".join(f",\n       {_MERGED[f]} AS {f}" for f in figures)
    return f"""
SELECT session_id{merged}
FROM ivr_calls_per_hour
WHERE {_HOURS}
GROUP BY session_id
HAVING minIfMerge(started_ms_state) >= %(start_ms)s AND minIfMerge(started_ms_state) < %(end_ms)s
"""


FUNNEL = f"""
SELECT step,
       count() AS reached,
       countIf(step = last_step) AS stopped,
       countIf(step = last_step AND outcome = 'self_service') AS self_served,
       countIf(step = last_step AND zero) AS pressed_zero,
       countIf(step = last_step AND outcome = 'hangup') AS hung_up,
       countIf(step = last_step AND outcome = 'abandoned') AS abandoned
FROM ({_calls("steps", "last_step", "zero", "outcome")})
ARRAY JOIN if(empty(steps), [''], steps) AS step
GROUP BY step
"""

LEAD_INS = f"""
SELECT variant, call_prefecture, call_brand, busy,
       count() AS calls,
       countIf(outcome = 'self_service') AS self_served,
       countIf(zero) AS pressed_zero,
       countIf(outcome = 'hangup') AS hung_up
FROM ({_calls("variant", "call_prefecture", "call_brand", "busy", "zero", "outcome")})
GROUP BY variant, call_prefecture, call_brand, busy
"""

_CONTAINED = _calls("caller", "zero", "outcome", "ended_ms")

#: Every call, and for each self-service one whether its caller came back in another session
#: within the window; the callers' other sessions are fetched only for self-service callers.
#: A session had an event in the window when one of its hours has its last event after the
#: window's start and its first not after the window's end.
CONTAINMENT = f"""
SELECT count() AS calls,
       countIf(self_service) AS self_service_calls,
       countIf(self_service AND recontacts = 0) AS contained,
       countIf(self_service AND recontacts = 0 AND ended_ms + %(window_ms)s > %(as_of_ms)s)
           AS still_open
FROM (
    SELECT session_id, self_service, ended_ms,
           countIf(other_last_ms > ended_ms AND other_first_ms <= ended_ms + %(window_ms)s
                   AND other_session != session_id) AS recontacts
    FROM (
        SELECT session_id, caller AS subscriber, ended_ms,
               outcome = 'self_service' AND NOT zero AS self_service
        FROM ({_CONTAINED})
    ) AS calls
    ALL LEFT JOIN (
        SELECT subscriber, session_id AS other_session,
               minMerge(first_ms_state) AS other_first_ms,
               maxMerge(last_ms_state) AS other_last_ms
        FROM contacts_per_hour
        WHERE hour >= toStartOfHour(toDateTime(%(start)s)) AND hour < toDateTime(%(until)s)
          AND subscriber IN (SELECT caller FROM ({_CONTAINED}) WHERE outcome = 'self_service')
        GROUP BY hour, subscriber, session_id
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
        # The hours read hold every event of the window of a call that ended in the last
        # hour it was followed.
        "until": int((end + FOLLOW + RECONTACT_WINDOW + timedelta(hours=1)).timestamp()),
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
        "start_ms": int(start.timestamp()) * 1000,
        "end_ms": int(end.timestamp()) * 1000,
    }
