"""Bytes in, a typed event or a reason a person can act on out.

The one decoder is reused for every call (msgspec compiles the union once). A rejection names
the field as a JSON path and what was wrong with it, so the dead-letter table and the
collector's reply tell a channel system's developer exactly what to fix.
"""

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec

from schemas.envelope import SCHEMA_VERSION
from schemas.events import EVENT_TYPES, Event
from schemas.upcast import UPCASTERS, accepted_versions

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
    # the collector's: a valid event of a channel its sender may not send
    "channel_not_allowed",
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


class _Head(msgspec.Struct):
    """The two fields that pick an upcaster, whatever else the object holds."""

    event_type: str | None = None
    schema_version: Any = None


_head_decoder = msgspec.json.Decoder(_Head)


def validate(
    raw: bytes | str, *, received_at: datetime | None = None, skew: timedelta = CLOCK_SKEW
) -> Event | Rejection:
    """Decode and check one event; never raises for bad input.

    Every field is bounded by its type (numbers by their column's range, strings by length
    or pattern, see :mod:`schemas.events`); ``occurred_at`` must lie between
    :data:`EARLIEST` and ``received_at + skew`` (``received_at`` defaults to now). An event
    from the future would move the nudge stage's event-time clock ahead for a whole partition.

    An event of another ``schema_version`` is upgraded by its :mod:`schemas.upcast` upcaster
    and then checked as version 1; that is tried only once the version-1 decode has failed,
    so a version-1 event costs one decode.
    """
    if len(raw) > MAX_EVENT_BYTES:
        return Rejection(
            "too_large", "", f"event is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}"
        )
    try:
        event: Event = _decoder.decode(raw)
    except msgspec.ValidationError as e:
        upcast = _other_version(raw)
        if upcast is None:
            return _explain(str(e))
        if isinstance(upcast, Rejection):
            return upcast
        event = upcast
    except RecursionError:  # msgspec's own depth limit, before Python's
        return Rejection("not_json", "", "event is nested too deeply; events are flat objects")
    except UnicodeDecodeError as e:  # msgspec decodes str values lazily, after the JSON parse
        return Rejection("not_utf8", "", f"event is not valid UTF-8 text ({e.reason})")
    except msgspec.DecodeError as e:
        if isinstance(raw, bytes) and not _is_utf8(raw):
            return Rejection("not_utf8", "", "event is not valid UTF-8 text")
        return Rejection("not_json", "", f"event is not valid JSON: {e}")
    return _in_time(event, received_at or datetime.now(UTC), skew)


def _other_version(raw: bytes | str) -> Event | Rejection | None:
    """``raw`` upgraded to version 1 (or why it cannot be) when it declares another version
    of a known event type; ``None`` when it does not, so the version-1 explanation stands.
    Never raises: an upcaster's defect costs one rejection, not the stage."""
    try:
        head = _head_decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None
    event_type, version = head.event_type, head.schema_version
    if type(version) is not int or version == SCHEMA_VERSION or event_type not in EVENT_TYPES:
        return None
    upcaster = UPCASTERS.get((event_type, version))
    if upcaster is None:
        accepted = ", ".join(map(str, accepted_versions(event_type)))
        return Rejection(
            "invalid_value",
            "$.schema_version",
            f"schema_version {version} is not accepted for {event_type}; accepted: {accepted}",
        )
    upgraded = f"after upgrading {event_type} version {version} to version {SCHEMA_VERSION}"
    try:
        old = upcaster.decoder.decode(raw)
    except msgspec.ValidationError as e:
        return _explain(str(e))  # paths and names are those of the version the sender used
    except Exception as e:  # the first decode parsed it; anything else is the upcaster's own
        return Rejection("invalid_value", "$", f"cannot read {event_type} version {version}: {e}")
    try:
        canonical = msgspec.json.encode(upcaster.to_canonical(old))
        return _decoder.decode(canonical)  # type: ignore[no-any-return]
    except msgspec.ValidationError as e:
        why = _explain(str(e))
        return Rejection(why.reason_code, why.field, f"{why.message} ({upgraded})")
    except Exception as e:
        return Rejection("invalid_value", "$", f"cannot upgrade: {e} ({upgraded})")


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
