"""Campaign lifecycle events, and the ``campaigns`` and ``campaign_triggers`` views of them."""

from sinks.tables import campaign_events

OPERATIONS: tuple[str, ...] = (
    campaign_events.CREATE_CAMPAIGN_EVENTS,
    campaign_events.CREATE_CAMPAIGNS,
    campaign_events.CREATE_CAMPAIGN_TRIGGERS,
)
