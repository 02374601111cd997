"""Bytes in, a typed event or a reason a person can act on out.

The one decoder is reused for every call (msgspec compiles the union once). A rejection names
the field as a JSON path and what was wrong with it, so the dead-letter table and the
collector's reply tell a channel system's developer exactly what to fix.
"""

from typing import Literal

import msgspec

from schemas.events import Event

MAX_EVENT_BYTES = 64 * 1024

ReasonCode = Literal[
    "too_large", "not_utf8", "not_json", "not_an_object", "unknown_event_type",
    "missing_field", "unknown_field", "wrong_type", "invalid_value",
    # the sink's own: a record on an internal topic that does not make a row
    "unreadable_record",
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


def validate(raw: bytes | str) -> Event | Rejection:
    """Decode and check one event; never raises for bad input."""
    if len(raw) > MAX_EVENT_BYTES:
        return Rejection(
            "too_large", "", f"event is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}"
        )
    try:
        return _decoder.decode(raw)
    except msgspec.ValidationError as e:
        return _explain(str(e))
    except UnicodeDecodeError as e:  # msgspec decodes str values lazily, after the JSON parse
        return Rejection("not_utf8", "", f"event is not valid UTF-8 text ({e.reason})")
    except msgspec.DecodeError as e:
        if isinstance(raw, bytes) and not _is_utf8(raw):
            return Rejection("not_utf8", "", "event is not valid UTF-8 text")
        return Rejection("not_json", "", f"event is not valid JSON: {e}")


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
