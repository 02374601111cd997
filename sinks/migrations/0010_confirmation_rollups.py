"""The aggregate table of SMS confirmation dialogues by session and hour for the SMS hall, and
its fill from the events already stored (a materialized view sees only rows inserted after
it).

A dialogue's figures depend on several of its events, which reach ClickHouse in different
inserts, so no materialized view can finish a dialogue: ``sms_confirmations_per_hour`` kept,
per dialogue and hour, the aggregate states of what the confirmation panel took of it (its
prompt and command, the reply, whether the service ran and worked), merged at query time.
Nothing reads it since the panel reads the dialogues the nudge stage summarises (migration
0020), so migration 0021 drops it. Its statements stay here, as they ran, so a new database
replays the same history.
"""

from sinks.engines import aggregating_merge_tree
from sinks.tables import rollup

_MS = "toUInt64(occurred_at) * 1000 + occurred_ms"
_PROMPTED = "event_type = 'sms.confirmation_requested'"
_SERVICE = "event_type = 'sms.service_completed'"

_SMS_CONFIRMATIONS_PER_HOUR = rollup(
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

OPERATIONS: tuple[str, ...] = (
    *_SMS_CONFIRMATIONS_PER_HOUR.create_statements,
    *_SMS_CONFIRMATIONS_PER_HOUR.fill_statements,
)
