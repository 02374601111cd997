"""``channelhub.dead_letters``: every rejected event, why, and where it came from.

The id comes from the source position (or the collector's payload hash), so a reprocessed
message collapses onto its first dead letter. Payloads are kept for repair and replay, with any
MSISDN-looking number replaced by its pseudonym.
"""

from typing import Any

from kernel.pseudonym import Pseudonymizer
from schemas.dead_letter import DeadLetter
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    Table,
    moment,
    uint,
)

NAME = "dead_letters"

CREATE_DEAD_LETTERS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
    dead_letter_id String,
    reason_code String,
    field String,
    message String,
    source_topic String,
    source_partition UInt16,
    source_offset UInt64,
    received_at DateTime('UTC'),
    payload String,
    payload_bytes UInt32,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {replacing_merge_tree(partition_by="toYYYYMM(received_at)", order_by="dead_letter_id")}
"""

COLUMNS = (
    "dead_letter_id", "reason_code", "field", "message", "source_topic", "source_partition",
    "source_offset", "received_at", "payload", "payload_bytes", "kafka_partition",
    "kafka_offset", "ingested_at",
)  # fmt: skip


def _values(d: DeadLetter, pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The dead-letter id and the row of one dead letter (its payload, field and message
    scrubbed by :meth:`Table.row`, like every text)."""
    return d.dead_letter_id, (
        d.dead_letter_id,
        d.reason_code,
        d.field,
        d.message,
        d.source_topic,
        uint(d.source_partition, 16),
        uint(d.source_offset, 64),
        moment(d.received_at),
        d.payload,
        uint(d.payload_bytes, 32),
    )


TABLE = Table[DeadLetter](
    name=NAME,
    create_statements=(CREATE_DEAD_LETTERS,),
    columns=COLUMNS,
    id_column="dead_letter_id",
    time_column="received_at",
    values=_values,
)
