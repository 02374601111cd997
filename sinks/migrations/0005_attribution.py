"""Conversions, opt-outs and the uplift view."""

from sinks.migrations.statements import creates

OPERATIONS: tuple[str, ...] = creates("nudge_conversions", "opt_outs", "nudge_uplift")
