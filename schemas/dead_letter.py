"""The record written to the dead-letter topic for every event that could not be accepted.

It keeps the original payload (cut at :data:`MAX_EVENT_BYTES`) with where it came from and why
it was refused, so nothing is lost: a fixed producer can re-send it and an analyst can count
rejections by reason. The id is derived from the source position, so reprocessing the same
source message yields the same dead letter, which the sink collapses.
"""

from datetime import datetime

import msgspec

from schemas.validation import MAX_EVENT_BYTES, Rejection


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    dead_letter_id: str
    reason_code: str
    field: str
    message: str
    source_topic: str
    source_partition: int
    source_offset: int
    received_at: datetime
    payload: str
    payload_bytes: int


def dead_letter(
    raw: bytes,
    rejection: Rejection,
    *,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    received_at: datetime,
    dead_letter_id: str | None = None,
) -> DeadLetter:
    """Build the dead letter for ``raw``; the id defaults to ``topic:partition:offset``."""
    return DeadLetter(
        dead_letter_id=dead_letter_id or f"{source_topic}:{source_partition}:{source_offset}",
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
