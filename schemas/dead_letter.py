"""The record written to the dead-letter topic for every event that could not be accepted.

It keeps the original payload (cut at :data:`MAX_EVENT_BYTES`) with where it came from and why
it was refused, so nothing is lost: a fixed producer can re-send it and an analyst can count
rejections by reason.

The id says *what* the record is, not only where it sat: source topic, partition, offset,
the broker's timestamp and a hash of the payload. Reprocessing the same source message yields
the same id, which the sink collapses; a different message that lands on the same position
(the local broker starts its offsets at 0 again after a restart, while ClickHouse keeps its
rows) gets a different id, so it is never dropped as a duplicate of the first.
"""

import hashlib
from datetime import datetime
from typing import Annotated

import msgspec

from schemas.validation import MAX_EVENT_BYTES, Rejection


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    dead_letter_id: str
    reason_code: str
    field: str
    message: str
    source_topic: str
    source_partition: Annotated[int, msgspec.Meta(ge=0, le=65_535)]
    source_offset: Annotated[int, msgspec.Meta(ge=0)]
    received_at: datetime
    payload: str
    payload_bytes: Annotated[int, msgspec.Meta(ge=0)]


def letter_id(
    raw: bytes, *, source_topic: str, source_partition: int, source_offset: int, timestamp_ms: int
) -> str:
    """``topic:partition:offset:<digest>``: readable position, identity from the content.

    The digest covers the position, the broker's timestamp and every byte of the payload.
    """
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"{source_topic}\0{source_partition}\0{source_offset}\0{timestamp_ms}\0".encode())
    digest.update(raw)
    return f"{source_topic}:{source_partition}:{source_offset}:{digest.hexdigest()}"


def dead_letter(
    raw: bytes,
    rejection: Rejection,
    *,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    received_at: datetime,
    timestamp_ms: int | None = None,
    dead_letter_id: str | None = None,
) -> DeadLetter:
    """Build the dead letter for ``raw``.

    The id defaults to :func:`letter_id` over the source position, ``timestamp_ms`` (the
    broker's timestamp of the source record; ``received_at`` when not given) and the payload.
    """
    if dead_letter_id is None:
        stamp = timestamp_ms if timestamp_ms is not None else int(received_at.timestamp() * 1000)
        dead_letter_id = letter_id(
            raw,
            source_topic=source_topic,
            source_partition=source_partition,
            source_offset=source_offset,
            timestamp_ms=stamp,
        )
    return DeadLetter(
        dead_letter_id=dead_letter_id,
        reason_code=rejection.reason_code,
        field=rejection.field,
        message=rejection.message,
        source_topic=source_topic,
        source_partition=source_partition,
        source_offset=source_offset,
        received_at=received_at,
        payload=raw[:MAX_EVENT_BYTES].decode("utf-8", errors="replace"),
        payload_bytes=len(raw),
    )
