"""Which topic the sink writes to which table, as the contract registry says.

:data:`TABLES` holds every table the sink writes and :data:`VIEWS` the views over several of
them; :func:`routes` pairs each table with the topic whose contract
(:data:`schemas.registry.CONTRACTS`) names it. A new topic is a contract plus its table here.
"""

from collections.abc import Callable
from typing import Any

import msgspec

from kernel.settings import Settings
from schemas.registry import CONTRACTS, Contract
from sinks.tables import (
    Table,
    View,
    alert_events,
    alert_rule_changes,
    campaign_events,
    catalogue_events,
    channel_rollups,
    contacts,
    content_events,
    dead_letters,
    demand_rollups,
    events,
    ivr_calls,
    kiosk_rollups,
    nudge_conversions,
    nudge_decisions,
    nudge_dispatches,
    nudge_receipts,
    nudge_requests,
    nudge_uplift,
    opt_outs,
    sms_dialogues,
    volume_rollups,
)

#: Every table the sink writes, by name.
TABLES: dict[str, Table[Any]] = {
    t.name: t
    for t in (
        events.TABLE,
        dead_letters.TABLE,
        nudge_requests.TABLE,
        nudge_decisions.TABLE,
        nudge_dispatches.TABLE,
        nudge_receipts.TABLE,
        nudge_conversions.TABLE,
        opt_outs.TABLE,
        contacts.TABLE,
        ivr_calls.TABLE,
        sms_dialogues.TABLE,
        campaign_events.TABLE,
        alert_events.TABLE,
        alert_rule_changes.TABLE,
        catalogue_events.TABLE,
        content_events.TABLE,
    )
}

#: Views over several tables, and aggregate tables of ``events``, which no topic feeds on its
#: own.
VIEWS: dict[str, View] = {
    v.name: v
    for v in (
        nudge_uplift.VIEW,
        volume_rollups.VOLUME_PER_FIVE_MINUTES,
        volume_rollups.EVENTS_INGESTED_PER_SECOND,
        volume_rollups.EVENTS_PER_PARTITION_MINUTE,
        channel_rollups.SMS_TEXTS_PER_MINUTE,
        channel_rollups.SMS_UNKNOWN_TEXTS_PER_MINUTE,
        channel_rollups.SELF_SERVICE_PER_MINUTE,
        channel_rollups.HALL_FUNCTIONS_PER_MINUTE,
        kiosk_rollups.KIOSK_TERMINALS_PER_HOUR,
        kiosk_rollups.KIOSK_TERMINALS_PER_MINUTE,
        kiosk_rollups.KIOSK_TERMINALS_PER_SIX_HOURS,
        kiosk_rollups.KIOSK_TERMINALS_PER_DAY,
        contacts.CONTACTS_PER_MINUTE,
        ivr_calls.IVR_STEPS_PER_MINUTE,
        ivr_calls.IVR_LEAD_INS_PER_MINUTE,
        ivr_calls.IVR_CONTAINMENT_PER_MINUTE,
        sms_dialogues.SMS_CONFIRMATIONS_PER_MINUTE,
        demand_rollups.DEMAND_PER_HOUR,
        demand_rollups.DEMAND_PER_MINUTE,
    )
}


def fed() -> list[Contract]:
    """The contracts of the topics the sink projects into a table."""
    return [c for c in CONTRACTS if c.table is not None]


def routes(settings: Settings) -> dict[str, Table[Any]]:
    """Topic → the table its records become rows of."""
    return {c.topic(settings): TABLES[c.table] for c in fed() if c.table is not None}


def decoders(settings: Settings) -> dict[str, Callable[[bytes], Any]]:
    """Topic → the decoding of its records into its contract's type: the one decode step
    of the sink, which raises ``msgspec.DecodeError`` (not JSON) or ``ValidationError`` (not
    the record) for bytes that are not a record of the topic."""
    return {c.topic(settings): msgspec.json.Decoder(c.record).decode for c in fed()}
