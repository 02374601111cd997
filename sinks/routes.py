"""Which topic the sink writes to which table: the one list to extend for a new record."""

from types import ModuleType

from kernel.settings import Settings
from sinks.tables import (
    alert_events,
    alert_rule_changes,
    campaign_events,
    dead_letters,
    events,
    nudge_conversions,
    nudge_decisions,
    nudge_dispatches,
    nudge_receipts,
    nudge_requests,
    opt_outs,
)


def routes(settings: Settings) -> dict[str, ModuleType]:
    """Topic → table module (its ``TABLE``, ``INSERT``, ``RECENT_IDS`` and ``row``)."""
    return {
        settings.topic_events: events,
        settings.topic_dlq: dead_letters,
        settings.topic_nudges_requested: nudge_requests,
        settings.topic_nudges_decisions: nudge_decisions,
        settings.topic_nudges_dispatches: nudge_dispatches,
        settings.topic_nudges_receipts: nudge_receipts,
        settings.topic_nudges_conversions: nudge_conversions,
        settings.topic_nudges_optouts: opt_outs,
        settings.topic_campaigns: campaign_events,
        settings.topic_alerts: alert_events,
        settings.topic_alert_rules: alert_rule_changes,
    }
