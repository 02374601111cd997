"""The event model: one envelope, a typed attribute block per event type, and validation.

Channel systems produce JSON events; :func:`schemas.validation.validate` turns bytes into a
typed :data:`schemas.events.Event` or an :class:`schemas.validation.Rejection` that says which
field was wrong and how. ``channelhub schemas export DIR`` writes the JSON Schema.
"""

from schemas.envelope import BRANDS, CHANNELS, PREFECTURES, SCHEMA_VERSION
from schemas.events import EVENT_TYPES, Event, event_type_of, routing_key
from schemas.validation import MAX_EVENT_BYTES, Rejection, validate

__all__ = [
    "BRANDS",
    "CHANNELS",
    "EVENT_TYPES",
    "MAX_EVENT_BYTES",
    "PREFECTURES",
    "SCHEMA_VERSION",
    "Event",
    "Rejection",
    "event_type_of",
    "routing_key",
    "validate",
]
