"""``channelhub.opt_outs``: who asked not to be sent nudges, and for what scope.

The nudge stage records an opt-out the first time a subscriber sends it for a scope (``*`` for
everything, or a rule's opt-out code); campaign audiences leave these subscribers out before
the guardrails would refuse them anyway, so an audience preview counts only reachable people.
"""

from typing import Any

from kernel.pseudonym import Pseudonymizer
from schemas.nudges import OptOutRecorded
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    Table,
    moment,
)

NAME = "opt_outs"

CREATE_OPT_OUTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
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


def _values(o: OptOutRecorded, pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The opt-out's id (subscriber and scope) and its row, from ``nudges.optouts``."""
    subscriber = pseudonymize(o.msisdn)
    key = f"{subscriber}:{o.scope}"
    return key, (key, subscriber, o.scope, o.event_id, moment(o.at))


TABLE = Table[OptOutRecorded](
    name=NAME,
    create_statements=(CREATE_OPT_OUTS,),
    columns=COLUMNS,
    id_column="opt_out_id",
    time_column="at",
    values=_values,
)
