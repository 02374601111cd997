"""Bytes in, a typed event or a reason a person can act on out.

The one decoder is reused for every call (msgspec compiles the union once). A rejection names
the field as a JSON path and what was wrong with it, so the dead-letter table and the
collector's reply tell a channel system's developer exactly what to fix.
"""

from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec

from schemas.events import Event

MAX_EVENT_BYTES = 64 * 1024

#: The earliest ``occurred_at`` accepted: no channel system of the operator is older, and
#: anything before it is a clock that was never set (1970) or a placeholder (year 1).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)

#: How far ahead of its receive time an event may be stamped: the channel systems' clocks
#: drift. ``Settings.clock_skew_seconds`` overrides it for the stages.
CLOCK_SKEW = timedelta(minutes=5)

ReasonCode = Literal[
    "too_large", "not_utf8", "not_json", "not_an_object", "unknown_event_type",
    "missing_field", "unknown_field", "wrong_type", "invalid_value",
    # well-formed, but a value outside what any channel system can mean (see Bounds)
    "out_of_range", "in_future",
    # the sink's own: a record on an internal topic that does not make a row, and a row
    # that ClickHouse refuses for its content
    "unreadable_record", "unwritable_row",
]  # fmt: skip


class Rejection(msgspec.Struct, frozen=True):
    """Why an event was refused: a machine code, the field's JSON path, and the explanation."""

    reason_code: ReasonCode
    field: str
    message: str

    def __str__(self) -> str:
        where = f" at {self.field}" if self.field else ""
        return f"{self.reason_code}{where}: {self.message}"


_decoder = msgspec.json.Decoder(Event)


def validate(
    raw: bytes | str, *, received_at: datetime | None = None, skew: timedelta = CLOCK_SKEW
) -> Event | Rejection:
    """Decode and check one event; never raises for bad input.

    Every field is bounded by its type (numbers by their column's range, strings by length
    or pattern, see :mod:`schemas.events`); ``occurred_at`` must lie between
    :data:`EARLIEST` and ``received_at + skew`` (``received_at`` defaults to now). An event
    from the future would move the nudge stage's event-time clock ahead for a whole partition.
    """
    if len(raw) > MAX_EVENT_BYTES:
        return Rejection(
            "too_large", "", f"event is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}"
        )
    try:
        event: Event = _decoder.decode(raw)
    except msgspec.ValidationError as e:
        return _explain(str(e))
    except UnicodeDecodeError as e:  # msgspec decodes str values lazily, after the JSON parse
        return Rejection("not_utf8", "", f"event is not valid UTF-8 text ({e.reason})")
    except msgspec.DecodeError as e:
        if isinstance(raw, bytes) and not _is_utf8(raw):
            return Rejection("not_utf8", "", "event is not valid UTF-8 text")
        return Rejection("not_json", "", f"event is not valid JSON: {e}")
    return _in_time(event, received_at or datetime.now(UTC), skew)


def _in_time(event: Event, received_at: datetime, skew: timedelta) -> Event | Rejection:
    """The event, or why its ``occurred_at`` cannot be true."""
    occurred = event.occurred_at
    if occurred < EARLIEST:
        return Rejection(
            "out_of_range",
            "$.occurred_at",
            f"occurred_at {occurred.isoformat()} is before {EARLIEST.date()}; "
            "check that the channel system's clock is set",
        )
    latest = received_at + skew
    if occurred > latest:
        ahead = (occurred - received_at).total_seconds()
        return Rejection(
            "in_future",
            "$.occurred_at",
            f"occurred_at {occurred.isoformat()} is {ahead:.0f} s after the event was received "
            f"({received_at.isoformat(timespec='seconds')}); at most "
            f"{skew.total_seconds():.0f} s of clock skew is accepted: check the channel "
            "system's clock",
        )
    return event


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _explain(text: str) -> Rejection:
    """Turn msgspec's ``message - at `$.path``` into a coded rejection."""
    message, _, path = text.partition(" - at `")
    field = path.rstrip("`") or "$"
    if message.startswith("Object missing required field `"):
        missing = message.split("`")[1]
        field = f"{field}.{missing}"
        if missing == "event_type":
            return Rejection("missing_field", field, "event_type is required")
        return Rejection("missing_field", field, f"required field {missing!r} is missing")
    if message.startswith("Object contains unknown field `"):
        unknown = message.split("`")[1]
        return Rejection("unknown_field", f"{field}.{unknown}", f"unknown field {unknown!r}")
    if field == "$.event_type" and message.startswith("Invalid value"):
        return Rejection("unknown_event_type", field, f"{message}; see `channelhub schemas export`")
    if message.startswith("Expected `object`") and field == "$":
        return Rejection("not_an_object", field, f"{message}; send one JSON object per event")
    if message.startswith("Expected") and ", got `" in message:
        return Rejection("wrong_type", field, message)
    return Rejection("invalid_value", field, message)
