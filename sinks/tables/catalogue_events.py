"""``channelhub.catalogue_events``: every record of ``channel.catalogue``, as it was written.

One row per record: seeded entries, opening and retirement requests, and each step of them.
The rows are what was asked, not what was accepted: which records the fold
(:mod:`orchestration.catalogue`) accepts depends on the records before them, so a reader
folds the rows in topic order (:data:`IN_ORDER`) rather than filtering here. The table is the
audit trail a dashboard or an auditor reads without a broker.

``entries`` holds the entries a record names (a request's, or the one a seed opens) as JSON,
and ``channels`` their channels (a retirement's chosen channels), so "everything that ever
touched the SMS hall" is one ``has(channels, 'sms')``.
"""

from collections.abc import Sequence
from datetime import UTC
from typing import Any

import msgspec

from kernel.pseudonym import Pseudonymizer
from schemas.catalogue import (
    CatalogueEvent,
    OpenRequested,
    RetireRequested,
    ServiceSeeded,
    channel_of,
)
from sinks.engines import replacing_merge_tree
from sinks.tables import Table, moment

NAME = "catalogue_events"

CREATE_CATALOGUE_EVENTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{NAME} (
    event_id String,
    event_type String,
    service String,
    request_id String,
    step String,
    who String,
    role String,
    department String,
    at DateTime('UTC'),
    channels Array(String),
    entries String,
    note String,
    kafka_partition UInt16,
    kafka_offset UInt64,
    ingested_at DateTime('UTC')
) {replacing_merge_tree(partition_by="toYYYYMM(at)", order_by="service, at, event_id")}
"""

COLUMNS = (
    "event_id", "event_type", "service", "request_id", "step", "who", "role", "department",
    "at", "channels", "entries", "note", "kafka_partition", "kafka_offset", "ingested_at",
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
    (event_id, event_type, service, request_id, step, who, role, department, at, channels,
     entries, note) = row  # fmt: skip
    record: dict[str, Any] = {
        "event_type": event_type, "event_id": event_id, "service": service, "who": who,
        "at": (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat(),
    }  # fmt: skip
    listed = msgspec.json.decode(entries) if entries else []
    if event_type == "service.open_requested":
        record |= {"department": department, "entries": listed, "reason": note}
    elif event_type == "service.retire_requested":
        record |= {"department": department, "channels": channels, "reason": note}
    elif event_type == "service.seeded":
        record |= {"entry": listed[0] if listed else None}
    else:
        record |= {"request_id": request_id, "step": step, "role": role, "note": note}
    return msgspec.json.encode(record)


def _values(e: CatalogueEvent, _pseudonymize: Pseudonymizer) -> tuple[str, tuple[Any, ...]]:
    """The event id and the row of one ``channel.catalogue`` record (no personal data)."""
    request_id = step = role = department = note = ""
    entries: tuple[Any, ...] = ()
    channels: list[str] = []
    if isinstance(e, OpenRequested):
        request_id, department, note, entries = e.event_id, e.department, e.reason, e.entries
        channels = sorted({channel_of(entry) for entry in e.entries})
    elif isinstance(e, RetireRequested):
        request_id, department, note = e.event_id, e.department, e.reason
        channels = list(e.channels)
    elif isinstance(e, ServiceSeeded):
        entries, channels = (e.entry,), [channel_of(e.entry)]
    else:
        request_id, step, role, note = e.request_id, e.step, e.role, e.note
    event_type: str = e.__struct_config__.tag  # type: ignore[assignment]
    return e.event_id, (
        e.event_id,
        event_type,
        e.service,
        request_id,
        step,
        e.who,
        role,
        department,
        moment(e.at),
        channels,
        msgspec.json.encode(entries).decode() if entries else "",
        note,
    )


TABLE = Table[CatalogueEvent](
    name=NAME,
    create_statements=(CREATE_CATALOGUE_EVENTS,),
    columns=COLUMNS,
    id_column="event_id",
    time_column="at",
    values=_values,
)
