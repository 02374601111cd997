"""Aggregate tables of ``events`` for the panels that follow sessions, so a day of a province
is read as one row per session and hour instead of every event and its JSON attributes.

A session's figures depend on several of its events, which reach ClickHouse in different
inserts, so no materialized view can finish a session. These tables keep, per hour of the
events and per session, the aggregate states of what the panels build of a session; a query
merges the states of a session over the hours it reads and groups the sessions as the panel
does. Every state is one a duplicate event cannot change (``any``, ``min``, ``max``,
``argMax``, ``groupUniqArray``, and "did it happen"), so they answer as ``events FINAL``.

- ``ivr_calls_per_hour``: per IVR call, caller and hour, what the IVR funnel, lead-ins and
  containment take of a call: its start, lead-in, menu steps, agent request and end;
- ``sms_confirmations_per_hour``: per SMS dialogue and hour, what the SMS hall's confirmation
  panel takes of a dialogue: its prompt and command, the reply, and whether the service ran
  and worked;
- ``contacts_per_hour``: per session of any channel, its subscriber and hour, the first and
  last millisecond of its events in the hour. Whether a session had an event in a window of at
  least an hour is exact from these: it had one if some hour's last event is after the
  window's start and that hour's first event is not after its end (the hour cannot hold the
  whole window, so one of the two lies inside it).

Where a table keeps the subscriber it is a column of the key, not a state, so a key rotation
re-keys it (:mod:`sinks.rekey`) and a call's caller still meets the caller's other sessions
after one.
"""

from sinks.engines import aggregating_merge_tree
from sinks.tables import rollup

_MS = "toUInt64(occurred_at) * 1000 + occurred_ms"
_STEP = "concat(visitParamExtractString(attributes, 'key_path'), ' ', " \
    "visitParamExtractString(attributes, 'item'))"  # fmt: skip
_STARTED = "event_type = 'ivr.call_started'"
_ENDED = "event_type = 'ivr.call_ended'"
_MENU = "event_type = 'ivr.menu_selected'"

IVR_CALLS_PER_HOUR = rollup(
    "ivr_calls_per_hour",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.ivr_calls_per_hour (
    hour DateTime('UTC'),
    session_id String,
    subscriber String,
    started_ms_state AggregateFunction(minIf, UInt64, UInt8),
    call_prefecture_state AggregateFunction(anyIf, String, UInt8),
    call_brand_state AggregateFunction(anyIf, String, UInt8),
    variant_state AggregateFunction(anyIf, String, UInt8),
    busy_state AggregateFunction(anyIf, UInt8, UInt8),
    steps_state AggregateFunction(groupUniqArrayIf, String, UInt8),
    last_step_state AggregateFunction(argMaxIf, String, UInt64, UInt8),
    zero_state AggregateFunction(max, UInt8),
    outcome_state AggregateFunction(anyIf, String, UInt8),
    ended_ms_state AggregateFunction(maxIf, UInt64, UInt8)
) {aggregating_merge_tree(partition_by="toYYYYMM(hour)", order_by="hour, session_id, subscriber")}
""",
    f"""
SELECT toStartOfHour(occurred_at) AS hour,
       session_id,
       subscriber,
       minIfState({_MS}, {_STARTED}) AS started_ms_state,
       anyIfState(prefecture, {_STARTED}) AS call_prefecture_state,
       anyIfState(brand, {_STARTED}) AS call_brand_state,
       anyIfState(visitParamExtractString(attributes, 'lead_in_variant'), {_STARTED})
           AS variant_state,
       anyIfState(visitParamExtractBool(attributes, 'busy_period'), {_STARTED}) AS busy_state,
       groupUniqArrayIfState({_STEP}, {_MENU}) AS steps_state,
       argMaxIfState({_STEP}, {_MS}, {_MENU}) AS last_step_state,
       maxState(event_type = 'ivr.agent_requested') AS zero_state,
       anyIfState(visitParamExtractString(attributes, 'outcome'), {_ENDED}) AS outcome_state,
       maxIfState({_MS}, {_ENDED}) AS ended_ms_state
FROM {{db}}.events
WHERE channel = 'ivr'
GROUP BY hour, session_id, subscriber
""",
)

CONTACTS_PER_HOUR = rollup(
    "contacts_per_hour",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.contacts_per_hour (
    hour DateTime('UTC'),
    subscriber String,
    session_id String,
    first_ms_state AggregateFunction(min, UInt64),
    last_ms_state AggregateFunction(max, UInt64)
) {aggregating_merge_tree(partition_by="toYYYYMM(hour)", order_by="hour, subscriber, session_id")}
""",
    f"""
SELECT toStartOfHour(occurred_at) AS hour, subscriber, session_id,
       minState({_MS}) AS first_ms_state,
       maxState({_MS}) AS last_ms_state
FROM {{db}}.events
GROUP BY hour, subscriber, session_id
""",
)

_PROMPTED = "event_type = 'sms.confirmation_requested'"
_SERVICE = "event_type = 'sms.service_completed'"

SMS_CONFIRMATIONS_PER_HOUR = rollup(
    "sms_confirmations_per_hour",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.sms_confirmations_per_hour (
    hour DateTime('UTC'),
    session_id String,
    prompted_ms_state AggregateFunction(minIf, UInt64, UInt8),
    code_state AggregateFunction(anyIf, String, UInt8),
    reply_state AggregateFunction(anyIf, String, UInt8),
    done_state AggregateFunction(max, UInt8),
    succeeded_state AggregateFunction(max, UInt8)
) {aggregating_merge_tree(partition_by="toYYYYMM(hour)", order_by="hour, session_id")}
""",
    f"""
SELECT toStartOfHour(occurred_at) AS hour,
       session_id,
       minIfState({_MS}, {_PROMPTED}) AS prompted_ms_state,
       anyIfState(visitParamExtractString(attributes, 'code'), {_PROMPTED}) AS code_state,
       anyIfState(visitParamExtractString(attributes, 'reply'),
                  event_type = 'sms.confirmation_replied') AS reply_state,
       maxState({_SERVICE}) AS done_state,
       maxState({_SERVICE} AND visitParamExtractBool(attributes, 'success')) AS succeeded_state
FROM {{db}}.events
WHERE channel = 'sms'
  AND event_type IN ('sms.confirmation_requested', 'sms.confirmation_replied',
                     'sms.service_completed')
GROUP BY hour, session_id
""",
)
