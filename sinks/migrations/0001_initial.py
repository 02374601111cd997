"""Canonical events, the per-minute volume view, and dead letters."""

from sinks.tables import dead_letters, events

OPERATIONS: tuple[str, ...] = (
    events.CREATE_EVENTS,
    events.CREATE_EVENTS_PER_MINUTE,
    events.CREATE_EVENTS_PER_MINUTE_MV,
    dead_letters.CREATE_DEAD_LETTERS,
)
