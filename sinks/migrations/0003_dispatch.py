"""What the dispatcher sent (or could not), and the gateway's delivery receipts."""

from sinks.tables import nudge_dispatches, nudge_receipts

OPERATIONS: tuple[str, ...] = (
    nudge_dispatches.CREATE_NUDGE_DISPATCHES,
    nudge_receipts.CREATE_NUDGE_RECEIPTS,
)
