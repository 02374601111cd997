"""``channelhub.content_events``: every record of ``channel.content``, as it was written.

One row per record: seeded texts, drafts, review steps and rejections. As with the
catalogue, the rows are what was asked, not what was accepted: which records the fold
(:mod:`orchestration.content`) accepts depends on the ones before, so a reader folds the rows
in topic order (:data:`IN_ORDER`). The table is the audit trail of every text customers read,
for a dashboard or an auditor without a broker.

``text`` is a version's text (drafts and seeds); ``note`` a step's note or a rejection's
reason.
"""

from collections.abc import Sequence
from datetime import UTC
from typing import Any

import msgspec

from kernel.pseudonym import Pseudonymizer
from schemas.content import ContentEvent, Drafted, Rejected, Seeded
from sinks.engines import replacing_merge_tree
from sinks.tables import Table, moment

NAME = "content_events"

CREATE_CONTENT_EVENTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
    event_id String,
    event_type String,
    item String,
    version UInt32,
    step String,
    who String,
    role String,
    at DateTime('UTC'),
    text String,
    note String,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {replacing_merge_tree(partition_by="toYYYYMM(at)", order_by="item, at, event_id")}
"""

COLUMNS = (
    "event_id", "event_type", "item", "version", "step", "who", "role", "at", "text", "note",
    "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip

#: Every row in the order the fold reads it: the topic's (one partition, so its offsets).
IN_ORDER = f"""
SELECT {", ".join(COLUMNS[:-3])}
FROM {{db}}.{NAME} FINAL
ORDER BY kafka_partition, kafka_offset
"""


def record_json(row: Sequence[Any]) -> bytes:
    """The record a row of :data:`IN_ORDER` was made of, as its producer encoded it (times to
    the second, as stored), for the fold to decode like a record read from the topic."""
    event_id, event_type, item, version, step, who, role, at, text, note = row
    record: dict[str, Any] = {
        "event_type": event_type, "event_id": event_id, "item": item, "version": version,
        "who": who, "at": (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat(),
    }  # fmt: skip
    if event_type == "content.drafted":
        record |= {"text": text, "note": note}
    elif event_type == "content.seeded":
        record |= {"text": text}
    elif event_type == "content.rejected":
        record |= {"role": role, "reason": note}
    else:
        record |= {"step": step, "role": role, "note": note}
    return msgspec.json.encode(record)


def _values(e: ContentEvent, _pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The event id and the row of one ``channel.content`` record (no personal data)."""
    step = role = text = note = ""
    if isinstance(e, Drafted):
        text, note = e.text, e.note
    elif isinstance(e, Seeded):
        text = e.text
    elif isinstance(e, Rejected):
        role, note = e.role, e.reason
    else:
        step, role, note = e.step, e.role, e.note
    event_type: str = e.__struct_config__.tag  # type: ignore[assignment]
    return e.event_id, (
        e.event_id, event_type, e.item, e.version, step, e.who, role, moment(e.at), text, note,
    )  # fmt: skip


TABLE = Table[ContentEvent](
    name=NAME,
    create_statements=(CREATE_CONTENT_EVENTS,),
    columns=COLUMNS,
    id_column="event_id",
    time_column="at",
    values=_values,
)
