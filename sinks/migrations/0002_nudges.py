"""Nudge requests and guardrail decisions."""

from sinks.tables import nudge_decisions, nudge_requests

OPERATIONS: tuple[str, ...] = (
    nudge_requests.CREATE_NUDGE_REQUESTS,
    nudge_decisions.CREATE_NUDGE_DECISIONS,
)
