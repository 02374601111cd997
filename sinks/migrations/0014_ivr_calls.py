"""The IVR calls the nudge stage summarises once they are over, their sums per minute for the
IVR deep-dive, and the fill that summarises the calls of the events already stored."""

from sinks.migrations.statements import creates, fills

OPERATIONS: tuple[str, ...] = creates(
    "ivr_calls", "ivr_steps_per_minute", "ivr_lead_ins_per_minute", "ivr_containment_per_minute"
) + fills("ivr_containment_per_minute")
