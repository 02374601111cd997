"""Every CREATE statement of the ``channelhub`` database, registered once, in creation order.

Migrations import from here; a test renders them all against the real server.
"""

from sinks.tables import dead_letters, events, nudge_decisions, nudge_requests

CREATE_TABLES: tuple[str, ...] = (
    events.CREATE_EVENTS,
    events.CREATE_EVENTS_PER_MINUTE,
    events.CREATE_EVENTS_PER_MINUTE_MV,
    dead_letters.CREATE_DEAD_LETTERS,
    nudge_requests.CREATE_NUDGE_REQUESTS,
    nudge_decisions.CREATE_NUDGE_DECISIONS,
)
