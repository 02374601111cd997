"""Aggregate tables of ``events`` for the deep-dive panels that count events (not sessions):
texts received, the unknown ones, self-service done per channel, and the web and WAP
functions, per minute, so a day of a province is read as thousands of rows.

Each is filled by a materialized view on ``events`` (and, when created over stored events, by
its fill: :func:`sinks.tables.rollup`). Counts are ``SummingMergeTree`` columns; distinct
subscribers are ``uniqExact`` states in an ``AggregatingMergeTree``, merged by the query over
the minutes of its range, so they stay exact. Like ``events_per_minute`` they count what is
inserted, which is exact because the sink removes duplicates before inserting: the panels
that read ``events FINAL`` for the same reason give the same answers from these.

The unknown texts are stored masked, as the SMS-hall panel shows them: each subscriber token
and each run of :data:`MASKED_DIGITS` or more digits replaced by :data:`MASK`, so no number
reaches the table. A change to the mask is a new table.
"""

from kernel.pseudonym import PSEUDONYM
from sinks.engines import aggregating_merge_tree, summing_merge_tree
from sinks.tables import rollup

MASKED_DIGITS = 7
MASK = "[number]"
#: What is masked, as a ClickHouse string literal inside a ``{db}`` template: backslashes
#: and quotes escaped for SQL, braces doubled for ``str.format``.
MASKED = f"msisdn:{PSEUDONYM.pattern}|[0-9]{{{MASKED_DIGITS},}}"
_MASKED_SQL = MASKED.replace("\\", "\\\\").replace("'", "\\'").replace("{", "{{").replace("}", "}}")

SMS_TEXTS_PER_MINUTE = rollup(
    "sms_texts_per_minute",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.sms_texts_per_minute (
    minute DateTime('UTC'),
    match_kind String,
    matched_code String,
    texts UInt64
) {summing_merge_tree(partition_by="toYYYYMM(minute)", order_by="minute, match_kind, matched_code")}
""",
    """
SELECT toStartOfMinute(occurred_at) AS minute,
       visitParamExtractString(attributes, 'match_kind') AS match_kind,
       visitParamExtractString(attributes, 'matched_code') AS matched_code,
       count() AS texts
FROM {db}.events
WHERE channel = 'sms' AND event_type = 'sms.message_received'
GROUP BY minute, match_kind, matched_code
""",
)

SMS_UNKNOWN_TEXTS_PER_MINUTE = rollup(
    "sms_unknown_texts_per_minute",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.sms_unknown_texts_per_minute (
    minute DateTime('UTC'),
    masked String,
    texts AggregateFunction(count),
    senders AggregateFunction(uniqExact, String)
) {aggregating_merge_tree(partition_by="toYYYYMM(minute)", order_by="minute, masked")}
""",
    f"""
SELECT toStartOfMinute(occurred_at) AS minute,
       replaceRegexpAll(visitParamExtractString(attributes, 'text'), '{_MASKED_SQL}', '{MASK}')
           AS masked,
       countState() AS texts,
       uniqExactState(subscriber) AS senders
FROM {{db}}.events
WHERE channel = 'sms' AND event_type = 'sms.message_received'
  AND visitParamExtractString(attributes, 'match_kind') = 'unknown'
GROUP BY minute, masked
""",
)

SELF_SERVICE_PER_MINUTE = rollup(
    "self_service_per_minute",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.self_service_per_minute (
    minute DateTime('UTC'),
    channel String,
    name String,
    done UInt64
) {summing_merge_tree(partition_by="toYYYYMM(minute)", order_by="minute, channel, name")}
""",
    """
SELECT toStartOfMinute(occurred_at) AS minute,
       channel,
       multiIf(event_type IN ('web.function_used', 'wap.function_used'),
               visitParamExtractString(attributes, 'function'),
               event_type = 'ivr.self_service_completed',
               visitParamExtractString(attributes, 'item'),
               event_type = 'agent.request_handled',
               visitParamExtractString(attributes, 'topic'),
               visitParamExtractString(attributes, 'service')) AS name,
       count() AS done
FROM {db}.events
WHERE event_type IN ('ivr.self_service_completed', 'sms.service_completed',
                     'web.function_used', 'wap.function_used', 'kiosk.service_completed',
                     'agent.request_handled')
  AND (event_type IN ('web.function_used', 'wap.function_used', 'agent.request_handled')
       OR visitParamExtractBool(attributes, 'success'))
GROUP BY minute, channel, name
""",
)

HALL_FUNCTIONS_PER_MINUTE = rollup(
    "hall_functions_per_minute",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.hall_functions_per_minute (
    minute DateTime('UTC'),
    channel String,
    function String,
    uses AggregateFunction(count),
    users AggregateFunction(uniqExact, String)
) {aggregating_merge_tree(partition_by="toYYYYMM(minute)", order_by="minute, channel, function")}
""",
    """
SELECT toStartOfMinute(occurred_at) AS minute,
       channel,
       visitParamExtractString(attributes, 'function') AS function,
       countState() AS uses,
       uniqExactState(subscriber) AS users
FROM {db}.events
WHERE channel IN ('web', 'wap') AND event_type IN ('web.function_used', 'wap.function_used')
GROUP BY minute, channel, function
""",
)
