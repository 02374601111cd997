"""What counts as a nudge having worked: the conversion goal a rule or campaign names.

A goal is part of a rule file and of a campaign file, and it travels with the records that
carry them (``campaigns.events``, ``campaigns.requests``), so its structs live with the topic
contracts. Its :meth:`goal_id` string is what a nudge request carries and what attribution
(:mod:`orchestration.conversions`) and the uplift group by.
"""

from typing import Annotated

import msgspec


class UsesSelfService(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind",
    tag="uses_self_service",
):  # fmt: skip
    """Converted when the subscriber does ``function`` on any self-service channel in time.

    ``function`` is an item of the guidance table, or ``suggested``: the item the nudge
    pointed to.
    """

    function: str = "suggested"
    within_hours: Annotated[int, msgspec.Meta(ge=1, le=2160)] = 72

    def goal_id(self, item: str) -> str:
        function = item if self.function == "suggested" else self.function
        return f"uses_self_service:{function}:{self.within_hours}h"


class NoAgentCall(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind",
    tag="no_agent_call",
):  # fmt: skip
    """Converted when the subscriber makes no agent call within ``within_days``."""

    within_days: Annotated[int, msgspec.Meta(ge=1, le=90)] = 7

    def goal_id(self, item: str) -> str:
        return f"no_agent_call:{self.within_days}d"


class SurveyReply(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind",
    tag="survey_reply",
):  # fmt: skip
    """Converted when the subscriber answers the survey within ``within_hours``."""

    within_hours: Annotated[int, msgspec.Meta(ge=1, le=720)] = 24

    def goal_id(self, item: str) -> str:
        return f"survey_reply:{self.within_hours}h"


Goal = UsesSelfService | NoAgentCall | SurveyReply
