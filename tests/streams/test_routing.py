"""Routing raw messages: canonical form for valid events, a dead letter for everything else."""

from msgspec import json

from streams.routing import RawMessage, route
from tests.factories import encode, make_event


def _message(value: bytes | None, offset: int = 7) -> RawMessage:
    return RawMessage(value, b"k", "raw", 2, offset, 1_800_000_000.5)


def test_valid_event_goes_to_events_keyed_by_subscriber_in_utc() -> None:
    event = make_event(occurred_at="2026-11-27T15:00:00.250+08:00", msisdn="13700001111")
    routed = route(_message(encode(event)))
    assert routed.destination == "events"
    assert routed.key == b"13700001111"
    canonical = json.decode(routed.value)
    assert canonical["occurred_at"] == "2026-11-27T07:00:00.250000Z"
    assert canonical["event_type"] == "ivr.abandoned"


def test_invalid_event_becomes_a_dead_letter_with_reason_and_source() -> None:
    routed = route(_message(b'{"event_type": "ivr.abandoned"}', offset=42))
    assert routed.destination == "dlq"
    letter = json.decode(routed.value)
    assert letter["dead_letter_id"].startswith("raw:2:42:")
    assert letter["reason_code"] == "missing_field"
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == (
        "raw",
        2,
        42,
    )
    assert letter["payload"] == '{"event_type": "ivr.abandoned"}'


def test_empty_and_binary_messages_are_dead_letters() -> None:
    assert route(_message(None)).destination == "dlq"
    letter = json.decode(route(_message(b"\x00\xff\xfe")).value)
    assert letter["reason_code"] in {"not_utf8", "not_json"}
    assert letter["payload_bytes"] == 3


def test_huge_payload_is_cut_but_its_size_kept() -> None:
    letter = json.decode(route(_message(b"{" + b" " * 200_000 + b"}")).value)
    assert letter["reason_code"] == "too_large"
    assert letter["payload_bytes"] == 200_002
    assert len(letter["payload"]) == 64 * 1024


def test_a_dead_letter_id_tells_apart_records_that_sat_at_the_same_position() -> None:
    """After a broker restart offsets start again at 0: the same position is a new record."""
    first = json.decode(route(_message(b"not json", offset=0)).value)["dead_letter_id"]
    again = json.decode(route(_message(b"not json", offset=0)).value)["dead_letter_id"]
    other = json.decode(route(_message(b"not json either", offset=0)).value)["dead_letter_id"]
    later = route(RawMessage(b"not json", b"k", "raw", 2, 0, 1_800_000_060.5))
    assert first == again
    assert len({first, other, json.decode(later.value)["dead_letter_id"]}) == 3
