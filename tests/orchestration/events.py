"""Validated channel events for the orchestration tests: :func:`make` builds one."""

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from schemas import Event, Rejection, validate

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Hunan on a busy day
_ids = itertools.count(1)


def make(event_type: str, attributes: dict[str, Any], at_s: float = 0, **envelope: Any) -> Event:
    """A validated event ``at_s`` seconds after :data:`T0`; ``envelope`` overrides fields."""
    raw: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=(0x0190 << 112) | next(_ids) | (7 << 76) | (2 << 62))),
        "event_type": event_type,
        "schema_version": 1,
        "channel": event_type.partition(".")[0],
        "occurred_at": (T0 + timedelta(seconds=at_s)).isoformat(timespec="milliseconds"),
        "msisdn": "13800000001",
        "session_id": "call-1",
        "prefecture": "changsha",
        "brand": "mzone",
        "attributes": attributes,
    }
    raw.update(envelope)
    event = validate(msgspec.json.encode(raw))
    assert not isinstance(event, Rejection), event
    return event
