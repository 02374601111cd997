"""The aggregate table of ``events`` for the panel that follows SMS dialogues, so a day of a
province is read as one row per dialogue and hour instead of every event and its JSON
attributes.

A dialogue's figures depend on several of its events, which reach ClickHouse in different
inserts, so no materialized view can finish a dialogue. ``sms_confirmations_per_hour`` keeps,
per SMS dialogue and hour of its events, the aggregate states of what the SMS hall's
confirmation panel takes of a dialogue: its prompt and command, the reply, and whether the
service ran and worked; a query merges a dialogue's states over the hours it reads. Every state
is one a duplicate event cannot change (``any``, ``min``, ``max`` and "did it happen"), so it
answers as ``events FINAL``.

The IVR panels and the cross-channel re-contacts once read two more such tables, by call and by
session; they now read the calls and contacts the nudge stage summarises
(:mod:`sinks.tables.ivr_calls`, :mod:`sinks.tables.contacts`), and migration 0018 drops them.
"""

from sinks.engines import aggregating_merge_tree
from sinks.tables import rollup

_MS = "toUInt64(occurred_at) * 1000 + occurred_ms"
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
