"""The event model: every type round-trips, every kind of bad input gets its reason."""

import json
from pathlib import Path

import msgspec
import pytest

from schemas import EVENT_TYPES, Rejection, event_type_of, routing_key, validate
from schemas.export import UNION_FILE, export
from tests.factories import EVENT_TYPES as FACTORY_TYPES
from tests.factories import encode, make_event


@pytest.mark.parametrize("event_type", FACTORY_TYPES)
def test_valid_event_round_trips(event_type: str) -> None:
    raw = make_event(event_type)
    event = validate(encode(raw))
    assert not isinstance(event, Rejection), event
    assert event_type_of(event) == event_type
    again = validate(msgspec.json.encode(event))
    assert again == event
    decoded = json.loads(msgspec.json.encode(event))
    assert decoded["event_id"] == raw["event_id"]
    assert decoded["attributes"] == raw["attributes"]


def test_every_event_type_belongs_to_its_channel() -> None:
    assert len(EVENT_TYPES) >= 26
    for name in EVENT_TYPES:
        assert name.partition(".")[0] in {"ivr", "sms", "web", "wap", "kiosk", "agent"}


def _rejected(raw: bytes) -> Rejection:
    result = validate(raw)
    assert isinstance(result, Rejection), f"{raw!r} was accepted"
    return result


def _with(**changes: object) -> bytes:
    return encode(make_event("ivr.abandoned", **changes))


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        (b"x" * 70_000, "too_large", ""),
        (b"\xff\xfe{", "not_utf8", ""),
        (_with(session_id="x").replace(b'"x"', b'"\xff\xfe"'), "not_utf8", ""),
        (b'{"event_id": ', "not_json", ""),
        (b"[1, 2]", "not_an_object", "$"),
        (b'{"event_id": "x"}', "missing_field", "$.event_type"),
        (_with(event_type="ivr.teleported"), "unknown_event_type", "$.event_type"),
        (_with(channel="fax"), "invalid_value", "$.channel"),
        (_with(channel="sms"), "invalid_value", "$"),
        (_with(attributes={"wait_s": "long"}), "wrong_type", "$.attributes.wait_s"),
        (_with(attributes={"wait_s": -1}), "invalid_value", "$.attributes.wait_s"),
        (_with(attributes={"wait": 1}), "unknown_field", "$.attributes.wait"),
        (_with(attributes={}), "missing_field", "$.attributes.wait_s"),
        (_with(msisdn="12345"), "invalid_value", "$.msisdn"),
        (_with(msisdn="'; DROP TABLE channelhub.events; --"), "invalid_value", "$.msisdn"),
        (_with(msisdn=None), "invalid_value", "$"),
        (_with(occurred_at="2026-11-27T07:00:00"), "invalid_value", "$.occurred_at"),
        (_with(occurred_at="yesterday"), "invalid_value", "$.occurred_at"),
        (_with(session_id="a\u0000b"), "invalid_value", "$.session_id"),
        (_with(session_id="呼叫"), "invalid_value", "$.session_id"),
        (_with(prefecture="beijing"), "invalid_value", "$.prefecture"),
        (_with(schema_version=2), "invalid_value", "$.schema_version"),
        (_with(event_id="not-a-uuid"), "invalid_value", "$.event_id"),
        (_with(extra="x"), "unknown_field", "$.extra"),
    ],
)
def test_rejections_name_the_field_and_the_problem(raw: bytes, code: str, field: str) -> None:
    rejection = _rejected(raw)
    assert (rejection.reason_code, rejection.field) == (code, field)
    assert rejection.message
    assert code in str(rejection)


def test_odd_but_legal_text_is_accepted_unchanged() -> None:
    text = '查话费 😀 \'; DROP TABLE events; -- "quoted"'
    event = validate(
        encode(
            make_event(
                "sms.message_received",
                attributes={"text": text, "matched_code": None, "match_kind": "unknown"},
            )
        )
    )
    assert not isinstance(event, Rejection)
    assert event.attributes.text == text  # type: ignore[union-attr]


def test_routing_key_is_the_subscriber_or_the_terminal() -> None:
    event = validate(encode(make_event(msisdn="13912345678")))
    assert routing_key(event) == b"13912345678"  # type: ignore[arg-type]
    fault = make_event(
        "kiosk.payment_completed",
        msisdn=None,
        brand=None,
        event_type="kiosk.terminal_fault",
        attributes={"terminal_id": "K0007", "fault_code": "printer_jam", "severity": "error"},
    )
    event = validate(encode(fault))
    assert not isinstance(event, Rejection), event
    assert routing_key(event) == b"K0007"


def test_schema_export_writes_a_schema_per_type(tmp_path: Path) -> None:
    written = export(tmp_path)
    assert len(written) == len(EVENT_TYPES) + 1
    union = json.loads((tmp_path / UNION_FILE).read_text())
    assert union["$schema"].endswith("2020-12/schema")
    one = json.loads((tmp_path / "ivr.abandoned.schema.json").read_text())
    assert "wait_s" in json.dumps(one)
