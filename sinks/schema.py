"""Every CREATE statement of the ``channelhub`` database, registered once, in creation order.

Migrations import from here; a test renders them all against the real server.
"""

from sinks.tables import (
    alert_events,
    campaign_events,
    dead_letters,
    events,
    nudge_conversions,
    nudge_decisions,
    nudge_dispatches,
    nudge_receipts,
    nudge_requests,
    nudge_uplift,
    opt_outs,
)

CREATE_TABLES: tuple[str, ...] = (
    events.CREATE_EVENTS,
    events.CREATE_EVENTS_PER_MINUTE,
    events.CREATE_EVENTS_PER_MINUTE_MV,
    dead_letters.CREATE_DEAD_LETTERS,
    nudge_requests.CREATE_NUDGE_REQUESTS,
    nudge_decisions.CREATE_NUDGE_DECISIONS,
    nudge_dispatches.CREATE_NUDGE_DISPATCHES,
    nudge_receipts.CREATE_NUDGE_RECEIPTS,
    nudge_conversions.CREATE_NUDGE_CONVERSIONS,
    opt_outs.CREATE_OPT_OUTS,
    nudge_uplift.CREATE_NUDGE_UPLIFT,
    campaign_events.CREATE_CAMPAIGN_EVENTS,
    campaign_events.CREATE_CAMPAIGNS,
    campaign_events.CREATE_CAMPAIGN_TRIGGERS,
    alert_events.CREATE_ALERT_EVENTS,
)
