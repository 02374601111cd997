"""Aggregate tables of ``events`` by session and hour for the IVR panels, and their fill from
the events already stored (a materialized view sees only rows inserted after it).

Nothing reads them any more: the IVR panels read the per-call summaries of migration 0014,
and the re-contact window the contacts of migration 0012, so migration 0018 drops them. Their
statements stay here, as they ran, so a new database replays the same history.
"""

from sinks.engines import aggregating_merge_tree
from sinks.tables import View, rollup

_MS = "toUInt64(occurred_at) * 1000 + occurred_ms"
_STEP = "concat(visitParamExtractString(attributes, 'key_path'), ' ', " \
    "visitParamExtractString(attributes, 'item'))"  # fmt: skip
_STARTED = "event_type = 'ivr.call_started'"
_ENDED = "event_type = 'ivr.call_ended'"
_MENU = "event_type = 'ivr.menu_selected'"

_IVR_CALLS_PER_HOUR = rollup(
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

_CONTACTS_PER_HOUR = rollup(
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

_VIEWS: tuple[View, ...] = (_IVR_CALLS_PER_HOUR, _CONTACTS_PER_HOUR)
ROLLUPS = tuple(v.name for v in _VIEWS)

OPERATIONS: tuple[str, ...] = tuple(s for v in _VIEWS for s in v.create_statements) + tuple(
    s for v in _VIEWS for s in v.fill_statements
)
