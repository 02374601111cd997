"""``channelhub.opt_outs``: who asked not to be sent nudges, and for what scope.

The nudge stage records an opt-out the first time a subscriber sends it for a scope (``*`` for
everything, or a rule's opt-out code); campaign audiences leave these subscribers out before
the guardrails would refuse them anyway, so an audience preview counts only reachable people.
"""

from datetime import datetime
from typing import Any

import orjson

from kernel.pseudonym import Pseudonymizer
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    insert_statement,
    moment,
    present_ids_query,
    recent_ids_query,
    text,
    uint,
)

TABLE = "opt_outs"

CREATE_OPT_OUTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{TABLE} (
    opt_out_id String,
    subscriber String,
    scope String,
    event_id String,
    at DateTime('UTC'),
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {replacing_merge_tree(partition_by="toYYYYMM(at)", order_by="subscriber, scope, opt_out_id")}
"""

COLUMNS = (
    "opt_out_id", "subscriber", "scope", "event_id", "at", "kafka_partition", "kafka_offset",
    "ingested_at",
)  # fmt: skip

INSERT = insert_statement(TABLE, COLUMNS)

#: The row's own time (the partition key), around which its id is looked up.
EVENT_TIME = COLUMNS.index("at")

RECENT_IDS = recent_ids_query(TABLE, "opt_out_id")

PRESENT_IDS = present_ids_query(TABLE, "opt_out_id", "at")


def row(
    value: bytes,
    *,
    partition: int,
    offset: int,
    ingested_at: datetime,
    pseudonymize: Pseudonymizer,
) -> tuple[str, tuple[Any, ...]]:
    """The opt-out's id (subscriber and scope) and its row, from ``nudges.optouts``."""
    o = orjson.loads(value)
    subscriber = pseudonymize(text(o["msisdn"]))
    scope = text(o["scope"])
    key = f"{subscriber}:{scope}"
    return key, (
        key,
        subscriber,
        scope,
        text(o["event_id"]),
        moment(o["at"]),
        uint(partition, 16),
        uint(offset, 64),
        ingested_at,
    )
