"""Events a channel system should never send, so the pipeline's rejection path gets exercised.

Each kind starts from a well-formed event and breaks one thing the way real integrations do:
broken JSON, wrong types, channels and event types that do not exist, missing fields, payloads
over the 64 KiB limit, control and look-alike Unicode characters where the schema allows only
plain ASCII, SQL-looking strings in constrained fields, an event type on the wrong channel and
numbers that are not mobile numbers. Tests check that :func:`schemas.validate` rejects every
one of them.
"""

import random
from typing import Any, NamedTuple

import msgspec

from channelhub.simulator.ids import EventIds, iso
from channelhub.simulator.population import Population
from schemas import CHANNELS, MAX_EVENT_BYTES

#: Kind → relative frequency. Huge payloads are rarer: each weighs 64 KiB in the broker.
KIND_WEIGHTS: dict[str, float] = {
    "malformed_json": 1, "wrong_type": 1, "unknown_channel": 1, "unknown_event_type": 1,
    "missing_field": 1, "huge_payload": 0.2, "odd_unicode": 1, "sql_injection": 1,
    "wrong_channel": 1, "bad_msisdn": 1,
}  # fmt: skip
MALFORMED_KINDS: tuple[str, ...] = tuple(KIND_WEIGHTS)

#: Kafka key of a malformed event that carries no MSISDN string.
FALLBACK_KEY = b"malformed"

_TEMPLATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ivr.call_started", {"lead_in_variant": "changsha.gotone.idle", "busy_period": False}),
    ("ivr.menu_selected", {"key_path": "1-1", "item": "query.realtime_charges"}),
    ("ivr.abandoned", {"wait_s": 42.5}),
    ("sms.message_received", {"text": "HF", "matched_code": "0101", "match_kind": "fuzzy"}),
    ("web.login", {"method": "password", "success": True}),
    ("wap.function_used", {"function": "bill.realtime"}),
    ("kiosk.payment_completed", {"terminal_id": "K0042", "amount_fen": 5000, "method": "cash"}),
    ("agent.request_handled", {
        "agent_id": "A0007", "topic": "query.monthly_bill", "resolved": True, "handle_s": 180.0,
        "self_serviceable": True,
    }),
)  # fmt: skip
_ENVELOPE_REQUIRED = (
    "event_id", "event_type", "schema_version", "channel", "occurred_at", "session_id",
    "prefecture", "attributes",
)  # fmt: skip
_UNKNOWN_CHANNELS = ("ussd", "email", "mms", "12580", "fax", "IVR", "")
_UNKNOWN_EVENT_TYPES = (
    "ivr.call_transferred", "ussd.menu_selected", "mms.sent", "sms.message_recieved",
    "web.logout", "kiosk", "",
)  # fmt: skip
_ODD_STRINGS = (
    "s\u0000nul", "s\u202eevil", "s\u200bzero-width", "s\tb", "s\nnewline", "会话1", "s😀",
    "s\u0007bell", "s\ufeffbom", "\u00a0s",
)  # fmt: skip
_ODD_FIELDS = ("session_id", "prefecture", "brand", "event_id")
_SQL = (
    "'; DROP TABLE channelhub.events; --", "changsha' OR '1'='1",
    "1; DELETE FROM channelhub.events WHERE 1=1", "x' UNION SELECT * FROM system.users --",
    "') OR 1=1 --",
)  # fmt: skip
_SQL_FIELDS = ("session_id", "prefecture", "brand", "msisdn", "event_id")
_BAD_MSISDNS = (
    "12345", "+8613812345678", "23812345678", "1381234567", "138123456789", "1381234567a",
    "138 1234 5678", "10086", "12812345678",
    "".join(chr(0xFF10 + int(d)) for d in "13812345678"),  # the same in full-width digits
)  # fmt: skip


class Malformed(NamedTuple):
    kind: str
    key: bytes
    payload: bytes


class MalformedFactory:
    """Makes malformed events about real subscribers at the current simulated time."""

    def __init__(self, population: Population, rng: random.Random, ids: EventIds) -> None:
        self._population = population
        self._rng = rng
        self._ids = ids
        self._kinds = list(KIND_WEIGHTS)
        self._weights = list(KIND_WEIGHTS.values())
        self._count = 0

    def make(self, t_ms: int, kind: str | None = None) -> Malformed:
        """One malformed event; ``kind`` defaults to a weighted random one."""
        rng = self._rng
        kind = kind or rng.choices(self._kinds, self._weights)[0]
        event = self._template(t_ms)
        if kind == "malformed_json":
            payload = _break_json(rng, msgspec.json.encode(event))
        else:
            getattr(self, f"_{kind}")(event)
            payload = msgspec.json.encode(event)
        msisdn = event.get("msisdn")
        return Malformed(
            kind, msisdn.encode() if isinstance(msisdn, str) else FALLBACK_KEY, payload
        )

    def _template(self, t_ms: int) -> dict[str, Any]:
        who = self._population.pick("ivr", self._rng)
        event_type, attributes = self._rng.choice(_TEMPLATES)
        self._count += 1
        return {
            "event_type": event_type,
            "event_id": self._ids.new(t_ms),
            "schema_version": 1,
            "channel": event_type.partition(".")[0],
            "occurred_at": iso(t_ms),
            "msisdn": who.msisdn,
            "session_id": f"bad-{self._count}",
            "prefecture": who.prefecture,
            "brand": who.brand,
            "attributes": dict(attributes),
        }

    def _wrong_type(self, event: dict[str, Any]) -> None:
        field = self._rng.choice(("schema_version", "occurred_at", "msisdn", "attributes", "sid"))
        if field == "schema_version":
            event[field] = "1"
        elif field == "occurred_at":
            event[field] = 1_700_000_000
        elif field == "msisdn":
            event[field] = int(event[field])
        elif field == "attributes":
            event[field] = list(event[field].values())
        else:
            event["session_id"] = 12345

    def _unknown_channel(self, event: dict[str, Any]) -> None:
        event["channel"] = self._rng.choice(_UNKNOWN_CHANNELS)

    def _unknown_event_type(self, event: dict[str, Any]) -> None:
        event["event_type"] = self._rng.choice(_UNKNOWN_EVENT_TYPES)

    def _missing_field(self, event: dict[str, Any]) -> None:
        if self._rng.random() < 0.25:
            attributes = event["attributes"]
            del attributes[next(iter(attributes))]
        else:
            del event[self._rng.choice(_ENVELOPE_REQUIRED)]

    def _huge_payload(self, event: dict[str, Any]) -> None:
        filler = self._rng.choice(("A", "长", "😀"))
        size = (MAX_EVENT_BYTES + self._rng.randrange(64, 4096)) // len(filler.encode())
        event["event_type"], event["channel"] = "sms.message_received", "sms"
        event["attributes"] = {"text": filler * size, "matched_code": None, "match_kind": "unknown"}

    def _odd_unicode(self, event: dict[str, Any]) -> None:
        field = self._rng.choice(_ODD_FIELDS)
        odd = self._rng.choice(_ODD_STRINGS)
        event[field] = odd if field == "session_id" else f"{event[field]}{odd}"

    def _sql_injection(self, event: dict[str, Any]) -> None:
        event[self._rng.choice(_SQL_FIELDS)] = self._rng.choice(_SQL)

    def _wrong_channel(self, event: dict[str, Any]) -> None:
        event["channel"] = self._rng.choice([c for c in CHANNELS if c != event["channel"]])

    def _bad_msisdn(self, event: dict[str, Any]) -> None:
        event["msisdn"] = self._rng.choice(_BAD_MSISDNS)


def _break_json(rng: random.Random, valid: bytes) -> bytes:
    """Truncated, a trailing comma, single quotes, or an unquoted key."""
    variant = rng.randrange(4)
    if variant == 0:
        return valid[: rng.randrange(1, len(valid) - 1)]
    if variant == 1:
        return valid[:-1] + b",}"
    if variant == 2:
        return valid.replace(b'"', b"'")
    return valid.replace(b'"event_id"', b"event_id", 1)
