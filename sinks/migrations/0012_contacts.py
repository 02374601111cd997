"""The contacts the nudge stage counts as they begin, their sums per minute for the
cross-channel page, and the fill that counts the contacts of the events already stored."""

from sinks.migrations.statements import creates, fills

OPERATIONS: tuple[str, ...] = creates("contacts", "contacts_per_minute") + fills(
    "contacts_per_minute"
)
