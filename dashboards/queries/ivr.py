"""The 10086 IVR deep-dive: where callers go in the menu, what ends in self-service, and how
the personalised lead-in prompts compare.

Everything is counted per call over the calls that *started* in the range (a call belongs to
the minute of its ``ivr.call_started``), once each call is over: the nudge stage summarises
each call when it ends, or when it has been silent for :data:`FOLLOW`
(:mod:`orchestration.call_summaries`), and materialized views sum the summaries per minute of
the call's start (:mod:`sinks.tables.ivr_calls`). So every panel reads a few thousand rows per
day of its range, whatever the day's volume, for whole-minute ranges; a call still in progress
is not counted yet. A call's menu steps are ``"<key path> <item>"``: branches re-order the
level-2 items of keys 2 and 3, so ``2-1`` is a different item in different prefectures and the
pair, not the key path alone, says where callers went.

Containment counts the self-service calls (ended in self-service, no agent request) the stage
did not find re-contacted: no event of another session of the caller, on any channel, within
:data:`RECONTACT_WINDOW` after the call ended. Whether the window is still open at ``as_of`` is
told from the minute the call ended: a call that ended in the minute a day before ``as_of``'s
counts as still open. Times cross as Unix seconds (``toDateTime(%(start)s)``).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from clickhouse_driver import Client

from orchestration.journey import LIVE_CALL_TIMEOUT_MS
from schemas.calls import CONTAINMENT_WINDOW_MS

#: A call is over when it ends, or once it has been silent this long: the longest it is
#: followed after the range.
FOLLOW = timedelta(milliseconds=LIVE_CALL_TIMEOUT_MS)
#: A self-service call is contained when nobody is heard of again for this long.
RECONTACT_WINDOW = timedelta(milliseconds=CONTAINMENT_WINDOW_MS)

#: The step of calls that pressed no key at all: they hung up or pressed 0 in the lead-in.
LEAD_IN = ""

_RANGE = "minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s)"

FUNNEL = f"""
SELECT step,
       sum(reached), sum(stopped), sum(self_served), sum(pressed_zero), sum(hung_up),
       sum(abandoned)
FROM ivr_steps_per_minute
WHERE {_RANGE}
GROUP BY step
"""

LEAD_INS = f"""
SELECT lead_in_variant, prefecture, brand, busy_period,
       sum(calls), sum(self_served), sum(pressed_zero), sum(hung_up)
FROM ivr_lead_ins_per_minute
WHERE {_RANGE}
GROUP BY lead_in_variant, prefecture, brand, busy_period
"""

_OPEN = "ended_minute >= toDateTime(%(open_from)s)"

#: Every call, the self-service ones, those not re-contacted, and of those the ones whose
#: window was still open at ``as_of``.
CONTAINMENT = f"""
SELECT sum(calls),
       sum(self_service),
       sum(self_service) - sum(recontacted),
       sumIf(self_service, {_OPEN}) - sumIf(recontacted, {_OPEN})
FROM ivr_containment_per_minute
WHERE {_RANGE}
"""


@dataclass(frozen=True)
class Step:
    """One menu step (key path and item) and what became of the calls that reached it.

    ``stopped`` calls went no deeper; they split into ``self_served``, ``pressed_zero`` (of
    which ``abandoned`` gave up waiting in the queue), ``hung_up`` in the menu, and calls that
    went silent without an end.
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
    ``still_open`` of those are younger than the window at ``as_of`` (by the minute they
    ended), so may yet be re-contacted.
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
    return sorted(found, key=lambda v: (-v.calls, v.variant, v.prefecture, v.brand, v.busy))


def containment(client: Client, start: datetime, end: datetime, as_of: datetime) -> Containment:
    as_of_minute = int(as_of.timestamp()) // 60 * 60
    params = {
        **_range(start, end),
        "open_from": as_of_minute - int(RECONTACT_WINDOW.total_seconds()),
    }
    [counts] = client.execute(CONTAINMENT, params)
    return Containment(*(int(n) for n in counts))


def _range(start: datetime, end: datetime) -> dict[str, int]:
    return {"start": int(start.timestamp()), "end": int(end.timestamp())}
