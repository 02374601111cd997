"""Pure parts of the sink: pseudonyms, row building, the dedupe memory."""

from datetime import UTC, datetime

import msgspec

from kernel.pseudonym import Pseudonymizer
from schemas import Event
from schemas.dead_letter import DeadLetter
from sinks.dedupe import RecentIds
from sinks.tables import dead_letters, events
from streams.routing import RawMessage, route
from tests.factories import encode, make_event

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def _events_row(
    event: dict[str, object], *, partition: int = 0, offset: int = 0
) -> tuple[str, tuple[object, ...]]:
    """``event`` as the validator routes it and the sink turns it into an ``events`` row."""
    value = route(RawMessage(encode(event), None, "raw", 0, 0, 0.0)).value
    return events.TABLE.row(
        msgspec.json.decode(value, type=Event),
        partition=partition,
        offset=offset,
        ingested_at=NOW,
        pseudonymize=Pseudonymizer(b"k"),
    )


def test_scrubbing_replaces_numbers_in_free_text() -> None:
    p = Pseudonymizer(b"k")
    masked = p.scrub('{"msisdn":"13812345678","x":"213812345678"}')
    assert "13812345678" not in masked.replace("213812345678", "")
    assert "msisdn:" + p("13812345678") in masked
    assert "213812345678" in masked  # 12 digits: not an MSISDN, left alone


def test_event_row_never_holds_the_msisdn() -> None:
    event = make_event(
        "ivr.abandoned", msisdn="13912345678", occurred_at="2026-11-27T07:00:00.123Z"
    )
    event_id, row = _events_row(event, partition=3, offset=9)
    assert event_id == event["event_id"]
    record = dict(zip(events.COLUMNS, row, strict=True))
    assert "13912345678" not in repr(row)
    assert record["occurred_ms"] == 123
    assert record["occurred_at"] == datetime(2026, 11, 27, 7, 0, 0, 123000, tzinfo=UTC)
    assert (record["kafka_partition"], record["kafka_offset"]) == (3, 9)


def test_reserved_number_is_pseudonymised_in_attributes() -> None:
    event = make_event(
        "web.login",
        event_type="web.number_reserved",
        attributes={"number": "15800001111", "reservation_id": "r1"},
    )
    _, row = _events_row(event)
    assert "15800001111" not in repr(row)


def test_dead_letter_row_masks_numbers_in_the_payload() -> None:
    bad = b'{"msisdn": "13912345678", "event_type": "nope"}'
    value = route(RawMessage(bad, None, "raw", 1, 5, 1_795_000_000.0)).value
    dead_letter_id, row = dead_letters.TABLE.row(
        msgspec.json.decode(value, type=DeadLetter),
        partition=0,
        offset=0,
        ingested_at=NOW,
        pseudonymize=Pseudonymizer(b"k"),
    )
    assert dead_letter_id.startswith("raw:1:5:")
    assert "13912345678" not in repr(row)


def test_recent_ids_forget_the_oldest_beyond_capacity_and_say_since_when_they_are_complete() -> (
    None
):
    recent = RecentIds(3)
    recent.extend(["a", "b", "c", "a"], at=10.0)
    recent.extend(["c"], at=15.0)
    assert len(recent) == 3
    assert recent.complete_since == 0.0
    recent.extend(["d", "e"], at=20.0)
    assert len(recent) == 3
    assert recent.complete_since == 10.0  # two of a, b, c written at 10 are forgotten
    assert {"d", "e"} <= {x for x in "abcde" if x in recent}
    recent.extend(["f", "g", "h"], at=30.0)
    assert [x for x in "abcdefgh" if x in recent] == ["f", "g", "h"]
    assert recent.complete_since == 20.0


def test_recent_ids_loaded_newest_first_are_complete_since_the_cut() -> None:
    rows = [("e", 50), ("d", 40), ("c", 40), ("b", 30), ("a", 20)]
    whole = RecentIds.loaded(10, rows, since=15.0)
    assert (len(whole), whole.complete_since) == (5, 15.0)
    cut = RecentIds.loaded(2, rows, since=15.0)
    assert "e" in cut
    assert len(cut) == 2
    assert cut.complete_since == 40.0  # d and c share the time of the cut
    cut.extend(["f"], at=60.0)
    assert "e" in cut
    assert "f" in cut
    assert cut.complete_since == 40.0
