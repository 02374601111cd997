"""Conversions, opt-outs and the uplift view."""

from sinks.tables import nudge_conversions, nudge_uplift, opt_outs

OPERATIONS: tuple[str, ...] = (
    nudge_conversions.CREATE_NUDGE_CONVERSIONS,
    opt_outs.CREATE_OPT_OUTS,
    nudge_uplift.CREATE_NUDGE_UPLIFT,
)
