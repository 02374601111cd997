"""``channelhub.nudge_receipts``: the network's final word on each SMS part we sent.

One row per ``message_id`` and ``status`` (a gateway may report one part ``failed`` and,
after its own retry, ``delivered``). ``nudge_id`` is empty when the gateway no longer knew
which nudge a message belonged to (a receipt after a restart): join
``nudge_dispatches.message_ids`` on ``message_id`` then. ``received_at`` is when the
dispatcher learnt of the receipt; the partition comes from it because a receipt has no other
time, so only a receipt reported again across a month boundary could survive twice in
``FINAL``, and the sink's id memory drops that one too. No personal data: no MSISDN.
"""

from typing import Any

from kernel.pseudonym import Pseudonymizer
from schemas.nudges import DeliveryReceipt
from sinks.engines import replacing_merge_tree
from sinks.tables import (
    Table,
    millis,
    moment,
)

NAME = "nudge_receipts"

CREATE_NUDGE_RECEIPTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
    receipt_id String,
    message_id String,
    status String,
    nudge_id String,
    gateway String,
    error_code String,
    received_at DateTime('UTC'),
    received_ms UInt16,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {replacing_merge_tree(partition_by="toYYYYMM(received_at)", order_by="message_id, status")}
"""

COLUMNS = (
    "receipt_id", "message_id", "status", "nudge_id", "gateway", "error_code", "received_at",
    "received_ms", "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip


def receipt_id(message_id: str, status: str) -> str:
    """What makes one receipt row: the message and the outcome reported for it."""
    return f"{message_id}:{status}"


def _values(r: DeliveryReceipt, pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The receipt id and the row of one ``nudges.receipts`` record."""
    received = moment(r.at)
    key = receipt_id(r.message_id, r.status)
    return key, (
        key,
        r.message_id,
        r.status,
        r.nudge_id or "",
        r.gateway,
        r.error_code or "",
        received,
        millis(received),
    )


TABLE = Table[DeliveryReceipt](
    name=NAME,
    create_statements=(CREATE_NUDGE_RECEIPTS,),
    columns=COLUMNS,
    id_column="receipt_id",
    time_column="received_at",
    values=_values,
)
