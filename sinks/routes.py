"""Which topic the sink writes to which table: the one list to extend for a new record."""

from types import ModuleType

from channelhub.settings import Settings
from sinks.tables import dead_letters, events, nudge_decisions, nudge_requests


def routes(settings: Settings) -> dict[str, ModuleType]:
    """Topic → table module (its ``TABLE``, ``INSERT``, ``RECENT_IDS`` and ``row``)."""
    return {
        settings.topic_events: events,
        settings.topic_dlq: dead_letters,
        settings.topic_nudges_requested: nudge_requests,
        settings.topic_nudges_decisions: nudge_decisions,
    }
