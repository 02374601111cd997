"""The machine reason codes a :class:`~schemas.nudges.Decision` carries, in one closed set.

Dashboards and the suppression table group by these strings, so they are part of the contract:
add new ones here, never rename.
"""

from typing import Literal

Reason = Literal[
    "duplicate",  # suppressed: this nudge id was already decided (a replayed trigger)
    "expired",  # suppressed: the trigger is older than the rule's max_age
    "retired_service",  # suppressed: the text names an SMS code the catalogue has retired
    "not_due",  # held: asked before the request's own send_at (the rule's delay)
    "opted_out",  # suppressed: global opt-out, or of a code the rule lists
    "quiet_hours",  # held until the window opens, or suppressed if the rule drops
    "in_live_call",  # held: the subscriber is still in an IVR call or agent queue
    "frequency_cap_rule_day",  # suppressed: this rule's cap for the local day
    "frequency_cap_rule_week",  # suppressed: this rule's cap for the week
    "frequency_cap_day",  # suppressed: the cap across all rules for the local day
    "frequency_cap_week",  # suppressed: the cap across all rules for the week
    "holdout",  # holdout: the subscriber is in the rule's control group
    "budget_exhausted",  # suppressed: the campaign's message or fen budget would be exceeded
    "rate_limited",  # held: the gateway has no token free; send_at is when one will be
]
