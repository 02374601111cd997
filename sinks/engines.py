"""Table engine clauses, so every table states its engine the same way.

Partitions always come from the event's own time: ReplacingMergeTree collapses duplicates only
within one partition, so partitioning by ingest time would let a replayed event survive twice.
"""


def replacing_merge_tree(*, partition_by: str, order_by: str) -> str:
    return f"ENGINE = ReplacingMergeTree() PARTITION BY {partition_by} ORDER BY ({order_by})"


def summing_merge_tree(*, partition_by: str, order_by: str) -> str:
    return f"ENGINE = SummingMergeTree() PARTITION BY {partition_by} ORDER BY ({order_by})"


def aggregating_merge_tree(*, partition_by: str, order_by: str) -> str:
    return f"ENGINE = AggregatingMergeTree() PARTITION BY {partition_by} ORDER BY ({order_by})"


def merge_tree(*, order_by: str) -> str:
    return f"ENGINE = MergeTree() ORDER BY ({order_by})"
