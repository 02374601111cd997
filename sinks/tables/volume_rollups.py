"""Aggregate tables of ``events`` for the volume and health panels, so a province's week is
read as thousands of rows instead of hundreds of millions.

Each is a ``SummingMergeTree`` filled by a materialized view on ``events`` (and, when created
over stored events, by its fill: :func:`sinks.tables.rollup`). Like ``events_per_minute`` they
count what is inserted, which is exact because the sink removes duplicates before inserting;
rows of one key collapse only when parts merge, so every read sums under a GROUP BY.

- ``volume_per_five_minutes``: ``events_per_minute`` by five minutes and without the event
  type, which the volume page neither filters nor shows: the five-minute blocks of a range
  (a week is some 2,000 rows per channel, prefecture and brand instead of 10,080 per event
  type as well);
- ``events_ingested_per_second``: events by the second the sink wrote them
  (``ingested_at``), which no sort key of ``events`` leads with, for the intake rate;
- ``events_per_partition_minute``: events by minute and Kafka partition, for the minute every
  partition has moved past.
"""

from sinks.engines import summing_merge_tree
from sinks.tables import rollup

VOLUME_PER_FIVE_MINUTES = rollup(
    "volume_per_five_minutes",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.volume_per_five_minutes (
    five_minutes DateTime('UTC'),
    channel String,
    prefecture String,
    brand String,
    events UInt64
) {
        summing_merge_tree(
            partition_by="toYYYYMM(five_minutes)",
            order_by="five_minutes, channel, prefecture, brand",
        )
    }
""",
    """
SELECT toStartOfFiveMinute(occurred_at) AS five_minutes, channel, prefecture, brand,
       count() AS events
FROM {db}.events
GROUP BY five_minutes, channel, prefecture, brand
""",
)

EVENTS_INGESTED_PER_SECOND = rollup(
    "events_ingested_per_second",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.events_ingested_per_second (
    ingested_at DateTime('UTC'),
    events UInt64
) {summing_merge_tree(partition_by="toYYYYMM(ingested_at)", order_by="ingested_at")}
""",
    """
SELECT ingested_at, count() AS events
FROM {db}.events
GROUP BY ingested_at
""",
)

EVENTS_PER_PARTITION_MINUTE = rollup(
    "events_per_partition_minute",
    f"""
CREATE TABLE IF NOT EXISTS {{db}}.events_per_partition_minute (
    minute DateTime('UTC'),
    kafka_partition UInt16,
    events UInt64
) {summing_merge_tree(partition_by="toYYYYMM(minute)", order_by="minute, kafka_partition")}
""",
    """
SELECT toStartOfMinute(occurred_at) AS minute, kafka_partition, count() AS events
FROM {db}.events
GROUP BY minute, kafka_partition
""",
)
