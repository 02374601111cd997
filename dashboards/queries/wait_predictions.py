"""Predicted against actual queue waits, and what an in-queue rule did to the calls it met.

**Accuracy** (the queue page). Every ``ivr.wait_predicted`` event (the wait predictor's, made
when its caller joined, :mod:`orchestration.queue_wait`) is paired with its call's end of wait
in the same session: ``ivr.agent_answered`` or ``ivr.abandoned``, whose ``wait_s`` is the
actual wait. Pairs are counted in ``[start, now)`` by the time the wait ended; the prediction
may be up to an hour older (nobody waits that long). Only *answered* callers have an actual
wait to compare: for them, the error is predicted - actual, and the page shows the exact
quantiles of its absolute value (the element at ``floor(level * n)`` of the sorted errors, as
the wait percentiles) and its mean, the bias. An *abandoned* caller's wait is censored: they
would have waited at least as long as they did, so they are left out of the errors and only
counted, with the share whose prediction was at least their wait (consistent with what was
seen). The answered callers are the patient or the lucky ones, so a prediction of the wait
*if the caller stays* reads a little long against them: a positive bias of a few seconds is
the censoring, not the model.

**Effect** (the campaigns page). The calls an in-queue rule (a rule triggered by
``ivr.wait_predicted``) decided on, by arm: ``approved`` (the SMS went out while the caller
waited) against ``holdout`` (the same rule, drawn out). A call *abandoned* if its session has
an ``ivr.abandoned``, and it took an agent (*agent load*) if it has an ``ivr.agent_answered``;
the two differences, treated - holdout, come with Newcombe's 95% interval, as the uplift
(:mod:`sinks.tables.nudge_uplift`). Nudges are those requested in ``[start, end)``; their
calls' ends are looked for up to two hours after ``end``.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from clickhouse_driver import Client

from sinks.tables.nudge_decisions import LATEST

LEVELS = (0.5, 0.9)
LOOKBACK = timedelta(hours=1)
CALL_HORIZON = timedelta(hours=2)
#: z of a two-sided 95% interval.
Z = 1.959963984540054

ACCURACY = """
SELECT countIf(gave_up = 0) AS answered,
       quantilesExactIf(0.5, 0.9)(abs(predicted - actual), gave_up = 0) AS errors,
       sumIf(predicted - actual, gave_up = 0) AS bias_sum,
       countIf(gave_up = 1) AS abandoned,
       countIf(gave_up = 1 AND predicted >= actual) AS consistent
FROM (
    SELECT session_id, any(predicted_s) AS predicted
    FROM (
        SELECT session_id,
               visitParamExtractFloat(attributes, 'predicted_wait_s') AS predicted_s
        FROM events
        WHERE channel = 'ivr' AND event_type = 'ivr.wait_predicted'
          AND occurred_at >= toDateTime(%(lookback)s) AND occurred_at < toDateTime(%(end)s)
    )
    GROUP BY session_id
) AS predictions
ALL INNER JOIN (
    SELECT session_id, any(wait) AS actual, max(abandoned) AS gave_up
    FROM (
        SELECT session_id, visitParamExtractFloat(attributes, 'wait_s') AS wait,
               toUInt8(event_type = 'ivr.abandoned') AS abandoned
        FROM events
        WHERE channel = 'ivr' AND event_type IN ('ivr.agent_answered', 'ivr.abandoned')
          AND occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(end)s)
    )
    GROUP BY session_id
) AS ends USING session_id
"""

EFFECT = f"""
SELECT arm, count() AS calls, sum(gave_up) AS abandoned, sum(took_agent) AS answered
FROM (
    SELECT arm, call_session
    FROM (
        SELECT nudge_id, arm, trigger_event_id
        FROM (
            SELECT nudge_id, any(trigger_event_id) AS trigger_event_id
            FROM nudge_requests
            WHERE rule_id = %(rule)s
              AND requested_at >= toDateTime(%(start)s) AND requested_at < toDateTime(%(end)s)
            GROUP BY nudge_id
        ) AS requested
        ALL INNER JOIN (
            SELECT nudge_id,
                   argMax(outcome, {LATEST}) AS arm
            FROM nudge_decisions
            WHERE rule_id = %(rule)s AND reason != 'duplicate'
            GROUP BY nudge_id
        ) AS fates USING nudge_id
        WHERE arm IN ('approved', 'holdout')
    ) AS decided
    ALL INNER JOIN (
        SELECT event_id AS trigger_event_id, any(session_id) AS call_session
        FROM events
        WHERE channel = 'ivr' AND event_type = 'ivr.wait_predicted'
          AND occurred_at >= toDateTime(%(lookback)s) AND occurred_at < toDateTime(%(end)s)
        GROUP BY event_id
    ) AS triggers USING trigger_event_id
) AS calls
ANY LEFT JOIN (
    SELECT session_id AS call_session, max(event_type = 'ivr.abandoned') AS gave_up,
           max(event_type = 'ivr.agent_answered') AS took_agent
    FROM events
    WHERE channel = 'ivr' AND event_type IN ('ivr.agent_answered', 'ivr.abandoned')
      AND occurred_at >= toDateTime(%(lookback)s) AND occurred_at < toDateTime(%(horizon)s)
    GROUP BY session_id
) AS ends USING call_session
GROUP BY arm
"""

IN_QUEUE_RULES = """
SELECT DISTINCT rule_id FROM nudge_requests
WHERE trigger_event_id IN (
    SELECT event_id FROM events WHERE channel = 'ivr' AND event_type = 'ivr.wait_predicted'
)
ORDER BY rule_id
"""


@dataclass(frozen=True)
class Accuracy:
    """Predictions whose wait ended in the window, against the waits."""

    answered: int
    abs_error_p50_s: float | None
    abs_error_p90_s: float | None
    bias_s: float | None  # mean of predicted - actual over the answered callers
    abandoned: int  # censored: not in the errors
    abandoned_consistent: int  # of those, predicted at least the wait they gave up after


@dataclass(frozen=True)
class Difference:
    """A rate in the treated and holdout calls, their difference and its 95% interval."""

    treated: float | None
    holdout: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class Effect:
    """What an in-queue rule did to the calls it decided on."""

    treated_calls: int
    holdout_calls: int
    abandonment: Difference
    agent_answered: Difference


def accuracy(client: Client, start: datetime, now: datetime) -> Accuracy:
    """:class:`Accuracy` of the waits that ended in ``[start, now)`` (aware times)."""
    params = {
        "lookback": int((start - LOOKBACK).timestamp()),
        "start": int(start.timestamp()),
        "end": int(now.timestamp()),
    }
    ((answered, errors, bias_sum, abandoned, consistent),) = client.execute(ACCURACY, params)
    return Accuracy(
        answered=int(answered),
        abs_error_p50_s=float(errors[0]) if answered else None,
        abs_error_p90_s=float(errors[1]) if answered else None,
        bias_s=float(bias_sum) / answered if answered else None,
        abandoned=int(abandoned),
        abandoned_consistent=int(consistent),
    )


def effect(client: Client, rule_id: str, start: datetime, end: datetime) -> Effect:
    """:class:`Effect` of ``rule_id`` on the calls of its nudges requested in ``[start, end)``."""
    params = {
        "rule": rule_id,
        "lookback": int((start - LOOKBACK).timestamp()),
        "start": int(start.timestamp()),
        "end": int(end.timestamp()),
        "horizon": int((end + CALL_HORIZON).timestamp()),
    }
    arms = {arm: (int(n), int(a), int(b)) for arm, n, a, b in client.execute(EFFECT, params)}
    treated, holdout = arms.get("approved", (0, 0, 0)), arms.get("holdout", (0, 0, 0))
    return Effect(
        treated_calls=treated[0],
        holdout_calls=holdout[0],
        abandonment=difference(treated[1], treated[0], holdout[1], holdout[0]),
        agent_answered=difference(treated[2], treated[0], holdout[2], holdout[0]),
    )


def in_queue_rules(client: Client) -> list[str]:
    """The rules that have asked for a nudge on an ``ivr.wait_predicted``."""
    return [rule for (rule,) in client.execute(IN_QUEUE_RULES)]


def difference(x1: int, n1: int, x2: int, n2: int) -> Difference:
    """``x1/n1 - x2/n2`` with Newcombe's hybrid score interval (method 10, 1998): Wilson
    intervals of each rate combined, so it stays in [-1, 1] for small groups and zero counts."""
    r1 = x1 / n1 if n1 else None
    r2 = x2 / n2 if n2 else None
    if r1 is None or r2 is None:
        return Difference(r1, r2, None, None, None)
    low1, high1 = _wilson(x1, n1)
    low2, high2 = _wilson(x2, n2)
    d = r1 - r2
    return Difference(
        treated=r1,
        holdout=r2,
        difference=d,
        ci_low=d - math.hypot(r1 - low1, high2 - r2),
        ci_high=d + math.hypot(high1 - r1, r2 - low2),
    )


def _wilson(x: int, n: int) -> tuple[float, float]:
    p, z2 = x / n, Z * Z
    mid = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return mid - half, mid + half
