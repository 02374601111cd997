"""Routing is total: any bytes in give a canonical event or a dead letter, never an exception.

Property-based: hypothesis draws arbitrary bytes, arbitrary JSON, and valid events whose
fields are replaced with values at and past their limits. The oracle is independent of the
router: a dead letter must decode as one with a known reason, a canonical event must decode
again as a valid event, and ``occurred_at`` decides by the documented bounds alone.
"""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channelhub.ingest.http_batch import judge
from schemas import Event, validate
from schemas.dead_letter import DeadLetter
from schemas.validation import EARLIEST, ReasonCode
from streams.routing import RawMessage, route
from tests.factories import EVENT_TYPES, make_event

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)
REASONS = set(get_args(ReasonCode))


def dumps(value: Any) -> bytes:
    """Any JSON, big integers and NaN/Infinity included, as a non-project client writes it."""
    return json.dumps(value).encode()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


def _route(value: bytes | None, *, timestamp: float = NOW.timestamp()) -> Any:
    routed = route(RawMessage(value, b"k", "raw", 1, 9, timestamp), now=NOW, skew=SKEW)
    if routed.destination == "dlq":
        letter = msgspec.json.decode(routed.value, type=DeadLetter)
        assert letter.reason_code in REASONS
        assert letter.source_offset == 9
        return letter
    event = validate(routed.value, received_at=NOW, skew=SKEW)
    assert isinstance(event, get_args(Event)), event
    return event


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_any_bytes_become_an_event_or_a_dead_letter(raw: bytes) -> None:
    _route(raw)


@settings(max_examples=300)
@given(json_values)
def test_any_json_becomes_an_event_or_a_dead_letter(value: Any) -> None:
    _route(dumps(value))


@settings(max_examples=400)
@given(
    st.sampled_from(EVENT_TYPES),
    st.sampled_from(
        [
            "event_id",
            "schema_version",
            "channel",
            "occurred_at",
            "msisdn",
            "session_id",
            "prefecture",
            "brand",
            "event_type",
            "attributes",
        ]
    ),
    json_values,
)
def test_a_valid_event_with_any_value_in_any_field_is_never_an_exception(
    event_type: str, field: str, value: Any
) -> None:
    event = make_event(event_type, occurred_at=NOW.isoformat())
    event[field] = value
    _route(dumps(event))


@settings(max_examples=400)
@given(
    st.sampled_from(EVENT_TYPES),
    st.data(),
    json_values | st.integers() | st.floats(allow_nan=False) | st.text(min_size=900),
)
def test_any_attribute_value_is_never_an_exception(
    event_type: str, data: st.DataObject, value: Any
) -> None:
    event = make_event(event_type, occurred_at=NOW.isoformat())
    name = data.draw(st.sampled_from([*event["attributes"], "unexpected"]))
    event["attributes"][name] = value
    _route(dumps(event))


@settings(max_examples=500)
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_occurred_at_is_accepted_exactly_between_2000_and_receipt_plus_skew(
    moment: datetime, offset_minutes: int
) -> None:
    stamped = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    event = make_event("ivr.abandoned", occurred_at=stamped.isoformat())
    result = _route(msgspec.json.encode(event))
    if stamped < EARLIEST:
        assert isinstance(result, DeadLetter)
        assert result.reason_code == "out_of_range"
    elif stamped > NOW + SKEW:
        assert isinstance(result, DeadLetter)
        assert result.reason_code == "in_future"
    else:
        assert result.occurred_at == stamped
        assert result.occurred_at.utcoffset() == timedelta(0)


@settings(max_examples=200)
@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers())
def test_any_broker_timestamp_is_never_an_exception(timestamp: float) -> None:
    _route(b"not json", timestamp=timestamp)
    _route(msgspec.json.encode(make_event("ivr.abandoned", occurred_at=NOW.isoformat())))


def test_limits_of_the_wire_become_dead_letters() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    nan = msgspec.json.encode(make_event("ivr.abandoned")).replace(
        b'"wait_s":61.5', b'"wait_s":NaN'
    )
    huge = msgspec.json.encode(make_event("ivr.abandoned")).replace(
        b'"wait_s":61.5', b'"wait_s":1e400'
    )
    near_limit = msgspec.json.encode(
        make_event("sms.message_received", attributes={"x": "y" * 900_000})
    )
    for raw, reason in [
        (deep, "too_large"),
        (b"[" * 5000, "not_an_object"),
        (b"{" * 5000, "not_json"),
        (nan, "not_json"),
        (huge, "invalid_value"),
        (near_limit, "too_large"),
        (b"", "not_json"),
        (None, "not_json"),
    ]:
        letter = _route(raw)
        assert isinstance(letter, DeadLetter), raw[:40] if raw else raw
        assert letter.reason_code == reason


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=300) | json_values.map(dumps), min_size=1, max_size=8))
def test_the_collector_judges_any_items_without_an_exception(items: list[bytes]) -> None:
    judged = judge(items, topic_raw="raw", topic_dlq="dlq", received_at=NOW, skew=SKEW)
    assert judged.accepted + judged.rejected == len(items) == len(judged.records)
    assert {r["status"] for r in judged.results} <= {"accepted", "rejected"}


def test_deeply_nested_json_is_refused_at_the_collector_too() -> None:
    item = b'{"a":' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    judged = judge([item], topic_raw="raw", topic_dlq="dlq", received_at=NOW, skew=SKEW)
    assert judged.results[0]["reason_code"] == "not_json"
