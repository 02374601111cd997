"""Valid events for tests, built as plain dicts so a test can break any field it likes."""

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

_ATTRIBUTES: dict[str, dict[str, Any]] = {
    "ivr.call_started": {"lead_in_variant": "changsha.gotone.idle", "busy_period": False},
    "ivr.menu_selected": {"key_path": "1-2", "item": "query.monthly_bill"},
    "ivr.queue_entered": {"queue": "general", "position": 3, "busy_period": True},
    "ivr.abandoned": {"wait_s": 61.5},
    "sms.message_received": {"text": "HF", "matched_code": "0101", "match_kind": "fuzzy"},
    "web.login": {"method": "password", "success": True},
    "wap.function_used": {"function": "bill.monthly"},
    "kiosk.payment_completed": {"terminal_id": "K0042", "amount_fen": 5000, "method": "cash"},
    "agent.request_handled": {
        "agent_id": "A1001", "topic": "query.monthly_bill", "resolved": True,
        "handle_s": 180.0, "self_serviceable": True,
    },
}  # fmt: skip

EVENT_TYPES = tuple(_ATTRIBUTES)
_counter = itertools.count()
_BASE = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def make_event(event_type: str = "ivr.abandoned", /, **overrides: Any) -> dict[str, Any]:
    """A valid event of ``event_type``; ``overrides`` replace envelope fields."""
    n = next(_counter)
    event: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=(0x0190 << 112) | n | (7 << 76) | (2 << 62))),
        "event_type": event_type,
        "schema_version": 1,
        "channel": event_type.partition(".")[0],
        "occurred_at": (_BASE + timedelta(milliseconds=137 * n)).isoformat(timespec="milliseconds"),
        "msisdn": f"138{n % 100_000_000:08d}",
        "session_id": f"s{n}",
        "prefecture": "changsha",
        "brand": "gotone",
        "attributes": dict(_ATTRIBUTES[event_type]),
    }
    event.update(overrides)
    return event


def encode(event: dict[str, Any]) -> bytes:
    return msgspec.json.encode(event)


def mixed_events(n: int) -> list[dict[str, Any]]:
    """``n`` valid events cycling through every type in :data:`EVENT_TYPES`."""
    return [make_event(EVENT_TYPES[i % len(EVENT_TYPES)]) for i in range(n)]
