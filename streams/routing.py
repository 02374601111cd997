"""Decide where each raw message goes: the canonical topic or the dead-letter topic.

Pure functions over bytes, so the rule is tested in microseconds and the faust agent stays a
thin loop. The canonical form is the msgspec encoding of the validated event with
``occurred_at`` in UTC, so every consumer downstream reads one shape.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import msgspec

from schemas import Rejection, routing_key, validate
from schemas.dead_letter import dead_letter

_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message read from the raw topic, with its position for the dead letter."""

    value: bytes | None
    key: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp: float  # seconds since the epoch, as the broker stamped it


@dataclass(frozen=True, slots=True)
class Routed:
    destination: Literal["events", "dlq"]
    key: bytes | None
    value: bytes


def route(message: RawMessage) -> Routed:
    """Validate one raw message and say where it goes and in what form."""
    raw = message.value if message.value is not None else b""
    result = validate(raw) if raw else Rejection("not_json", "", "message has no value")
    if isinstance(result, Rejection):
        letter = dead_letter(
            raw,
            result,
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
            received_at=datetime.fromtimestamp(message.timestamp, UTC),
        )
        return Routed("dlq", message.key, _encode(letter))
    if result.occurred_at.utcoffset():
        result = msgspec.structs.replace(result, occurred_at=result.occurred_at.astimezone(UTC))
    return Routed("events", routing_key(result), _encode(result))
