"""``channelhub.ivr_calls``: the IVR calls the nudge stage summarised once they were over, and
the three per-minute sums the IVR deep-dive reads, all by the minute each call started:

- ``ivr_steps_per_minute``, per menu step (``''`` for calls that pressed no key): calls that
  reached it, stopped there, and how those ended;
- ``ivr_lead_ins_per_minute``, per lead-in variant, prefecture, brand and busy flag: calls and
  how they ended;
- ``ivr_containment_per_minute``, per minute the call ended too: calls, self-service calls
  and self-service calls re-contacted within 24 h.

Merging each call's events at query time took seconds at a province's volume, and the
containment join more memory than the dashboard may use. The stage keyed by subscriber
follows each call (:mod:`orchestration.call_summaries`), so a call is a row here when it is
over, and a self-service call one more row when its caller comes back within 24 h. Every
panel then sums a few thousand rows per day of its range, whole minutes.

The sink inserts a call once (its id is the same when the stage summarises it again after a
restart), so the materialized views sum every row they see. The events stored before the
stage summarised calls are summarised once by this table's fill, which the migration runs:
the definitions the panels applied to ``events`` before, each call grouped from all its
stored events.
"""

from typing import Any

from kernel.pseudonym import Pseudonymizer
from schemas.calls import CONTAINMENT_WINDOW_MS, CallSummarised
from sinks.engines import replacing_merge_tree, summing_merge_tree
from sinks.tables import DATETIME_MIN, Table, View, letters, millis, moment

NAME = "ivr_calls"

CREATE_IVR_CALLS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
    call_id String,
    kind String,
    subscriber String,
    started_at DateTime('UTC'),
    started_ms UInt16,
    ended_at DateTime('UTC'),
    ended_ms UInt16,
    prefecture String,
    brand String,
    lead_in_variant String,
    busy_period UInt8,
    steps Array(String),
    last_step String,
    pressed_zero UInt8,
    outcome String,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {replacing_merge_tree(partition_by="toYYYYMM(started_at)", order_by="call_id")}
"""

COLUMNS = (
    "call_id", "kind", "subscriber", "started_at", "started_ms", "ended_at", "ended_ms",
    "prefecture", "brand", "lead_in_variant", "busy_period", "steps", "last_step",
    "pressed_zero", "outcome", "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip


def _values(c: CallSummarised, pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The call's id and its row, from ``ivr.calls``; a call never ended ends at 1970."""
    started = moment(c.started_at)
    ended = DATETIME_MIN if c.ended_at is None else moment(c.ended_at)
    return c.call_id, (
        c.call_id,
        c.kind,
        pseudonymize(c.msisdn),
        started,
        millis(started),
        ended,
        millis(ended),
        c.prefecture or "",
        c.brand or "",
        c.lead_in_variant or "",
        int(c.busy_period),
        list(c.steps),
        c.last_step or "",
        int(c.pressed_zero),
        c.outcome or "",
    )


TABLE = Table[CallSummarised](
    name=NAME,
    create_statements=(CREATE_IVR_CALLS,),
    columns=COLUMNS,
    id_column="call_id",
    time_column="started_at",
    values=_values,
)

_MS = "toUInt64(occurred_at) * 1000 + occurred_ms"
_STEP = "concat(visitParamExtractString(attributes, 'key_path'), ' ', " \
    "visitParamExtractString(attributes, 'item'))"  # fmt: skip
_STARTED = "event_type = 'ivr.call_started'"
_ENDED = "event_type = 'ivr.call_ended'"
_MENU = "event_type = 'ivr.menu_selected'"
_ROW_END = "0 AS kafka_partition, toUInt64(0) AS kafka_offset, now() AS ingested_at"
_SELF_SERVICE = "outcome = 'self_service' AND pressed_zero = 0"

#: Every stored call, grouped from its events as the panels grouped them before: the
#: lead-in from its start, the distinct steps and the latest, the agent request, the end.
_STORED_CALLS = f"""
    SELECT session_id, subscriber,
           minIf({_MS}, {_STARTED}) AS started,
           maxIf({_MS}, {_ENDED}) AS ended,
           anyIf(prefecture, {_STARTED}) AS call_prefecture,
           anyIf(brand, {_STARTED}) AS call_brand,
           anyIf(visitParamExtractString(attributes, 'lead_in_variant'), {_STARTED}) AS variant,
           anyIf(visitParamExtractBool(attributes, 'busy_period'), {_STARTED}) AS busy,
           groupUniqArrayIf({_STEP}, {_MENU}) AS steps,
           argMaxIf({_STEP}, {_MS}, {_MENU}) AS last_step,
           max(event_type = 'ivr.agent_requested') AS pressed_zero,
           anyIf(visitParamExtractString(attributes, 'outcome'), {_ENDED}) AS outcome
    FROM {{db}}.events
    WHERE channel = 'ivr' AND subscriber != '' AND {{slice}}
    GROUP BY session_id, subscriber
    HAVING countIf({_STARTED}) > 0
"""
#: A stored call's id, in letters only as the stage's ids are.
_STORED_ID = f"concat('stored-', {letters('lower(hex(sipHash64(session_id)))')})"
_TIMES = (
    "toDateTime(intDiv(started, 1000)), started % 1000, toDateTime(intDiv(ended, 1000)), "
    "ended % 1000"
)

#: The calls of the events stored before the stage summarised them.
FILL_CALLS = f"""
INSERT INTO {{db}}.{NAME} ({", ".join(COLUMNS)})
SELECT concat({_STORED_ID}, '-call'), 'call', subscriber, {_TIMES},
       call_prefecture, call_brand, variant, busy, steps, last_step, pressed_zero, outcome,
       {_ROW_END}
FROM ({_STORED_CALLS})
WHERE (SELECT count() FROM {{db}}.{NAME} WHERE kind = 'call' AND {{slice}}) = 0
"""

#: The stored self-service calls their caller came back to within 24 h of their end: an
#: event of another session in (end, end + 24 h]. Other sessions' events are grouped per
#: hour (first and last millisecond), which tells that exactly for a window of a day.
FILL_RECONTACTED = f"""
INSERT INTO {{db}}.{NAME} ({", ".join(COLUMNS)})
SELECT concat({_STORED_ID}, '-recontacted'), 'recontacted', subscriber, {_TIMES},
       '', '', '', 0, [], '', 0, '', {_ROW_END}
FROM (
    SELECT session_id, subscriber, started, ended,
           countIf(other_last > ended AND other_first <= ended + {CONTAINMENT_WINDOW_MS}
                   AND other_session != session_id) AS again
    FROM (
        SELECT session_id, subscriber, started, ended
        FROM ({_STORED_CALLS})
        WHERE {_SELF_SERVICE}
    ) AS calls ALL LEFT JOIN (
        SELECT subscriber, session_id AS other_session,
               min({_MS}) AS other_first, max({_MS}) AS other_last
        FROM {{db}}.events
        WHERE {{slice}}
          AND subscriber IN (SELECT subscriber FROM ({_STORED_CALLS}) WHERE {_SELF_SERVICE})
        GROUP BY toStartOfHour(occurred_at), subscriber, session_id
    ) AS others USING subscriber
    GROUP BY session_id, subscriber, started, ended
)
WHERE again > 0
  AND (SELECT count() FROM {{db}}.{NAME} WHERE kind = 'recontacted' AND {{slice}}) = 0
"""

_MINUTE = "toStartOfMinute(started_at) AS minute"

IVR_STEPS_PER_MINUTE = View(
    name="ivr_steps_per_minute",
    create_statements=(
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.ivr_steps_per_minute (
    minute DateTime('UTC'),
    step String,
    reached UInt64,
    stopped UInt64,
    self_served UInt64,
    pressed_zero UInt64,
    hung_up UInt64,
    abandoned UInt64
) {summing_merge_tree(partition_by="toYYYYMM(minute)", order_by="minute, step")}
""",
        f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.ivr_steps_per_minute_mv
TO {{db}}.ivr_steps_per_minute
AS SELECT {_MINUTE},
          step,
          count() AS reached,
          countIf(step = last_step) AS stopped,
          countIf(step = last_step AND outcome = 'self_service') AS self_served,
          countIf(step = last_step AND pressed_zero = 1) AS pressed_zero,
          countIf(step = last_step AND outcome = 'hangup') AS hung_up,
          countIf(step = last_step AND outcome = 'abandoned') AS abandoned
FROM {{db}}.{NAME}
ARRAY JOIN if(empty(steps), [''], steps) AS step
WHERE kind = 'call'
GROUP BY minute, step
""",
    ),
)

IVR_LEAD_INS_PER_MINUTE = View(
    name="ivr_lead_ins_per_minute",
    create_statements=(
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.ivr_lead_ins_per_minute (
    minute DateTime('UTC'),
    lead_in_variant String,
    prefecture String,
    brand String,
    busy_period UInt8,
    calls UInt64,
    self_served UInt64,
    pressed_zero UInt64,
    hung_up UInt64
) {
            summing_merge_tree(
                partition_by="toYYYYMM(minute)",
                order_by="minute, lead_in_variant, prefecture, brand, busy_period",
            )
        }
""",
        f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.ivr_lead_ins_per_minute_mv
TO {{db}}.ivr_lead_ins_per_minute
AS SELECT {_MINUTE},
          lead_in_variant, prefecture, brand, busy_period,
          count() AS calls,
          countIf(outcome = 'self_service') AS self_served,
          countIf(pressed_zero = 1) AS pressed_zero,
          countIf(outcome = 'hangup') AS hung_up
FROM {{db}}.{NAME}
WHERE kind = 'call'
GROUP BY minute, lead_in_variant, prefecture, brand, busy_period
""",
    ),
)

IVR_CONTAINMENT_PER_MINUTE = View(
    name="ivr_containment_per_minute",
    create_statements=(
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.ivr_containment_per_minute (
    minute DateTime('UTC'),
    ended_minute DateTime('UTC'),
    calls UInt64,
    self_service UInt64,
    recontacted UInt64
) {summing_merge_tree(partition_by="toYYYYMM(minute)", order_by="minute, ended_minute")}
""",
        f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.ivr_containment_per_minute_mv
TO {{db}}.ivr_containment_per_minute
AS SELECT {_MINUTE},
          toStartOfMinute(ended_at) AS ended_minute,
          countIf(kind = 'call') AS calls,
          countIf(kind = 'call' AND {_SELF_SERVICE}) AS self_service,
          countIf(kind = 'recontacted') AS recontacted
FROM {{db}}.{NAME}
GROUP BY minute, ended_minute
""",
    ),
    fill_statements=(FILL_CALLS, FILL_RECONTACTED),
)
