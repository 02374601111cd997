"""Nudge requests and guardrail decisions.

``nudge_decisions`` is created here as it first was, keyed without the reason; migration 0019
rebuilds it with the key of :mod:`sinks.tables.nudge_decisions`. The statement stays as it ran,
so a new database replays the same history.
"""

from sinks.migrations.statements import creates

CREATE_NUDGE_DECISIONS = """
CREATE TABLE IF NOT EXISTS {db}.nudge_decisions (
    decision_id String,
    nudge_id String,
    rule_id String,
    subscriber String,
    outcome String,
    reason String,
    decided_at DateTime('UTC'),
    decided_ms UInt16,
    held_until DateTime('UTC'),
    requested_at DateTime('UTC'),
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) """ + (
    "ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(requested_at) "
    "ORDER BY (rule_id, nudge_id, decided_at, decided_ms, outcome)\n"
)

OPERATIONS: tuple[str, ...] = (*creates("nudge_requests"), CREATE_NUDGE_DECISIONS)
