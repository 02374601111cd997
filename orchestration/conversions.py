"""Attribution: did a subscriber who was sent a nudge, or held out of it, reach its goal?

Both groups are tracked the same way from the moment of the decision (``approved`` → ``sent``,
``holdout`` → ``holdout``), so the difference in their conversion rates is the nudge's
uplift. The goal string a request carries (:meth:`schemas.goals.UsesSelfService.
goal_id` and friends) says what counts:

- ``uses_self_service:<item>:<h>h``: a successful self-service use of ``<item>`` on any channel
  that offers it (the IVR or SMS hall by item name, the web and WAP halls by the function the
  guidance table names for it) within ``h`` hours; ``any`` accepts every self-service use;
- ``survey_reply:<h>h``: an SMS from the subscriber within ``h`` hours (the reply is kept,
  with its 1-5 score when it is one); an opt-out reply is not an answer;
- ``no_agent_call:<d>d``: ``d`` days pass without the subscriber asking the IVR for an agent.
  This one converts when the window *closes*, so the nudge stage keeps it on a deadline heap.

Everything here is pure: the stage folds events and decisions through :func:`opened` and
:func:`reached` in event time, so a replay attributes exactly as the live run did.
"""

import re
from functools import lru_cache
from typing import Literal, NamedTuple

import msgspec

from orchestration.rules import guidance
from schemas.envelope import Envelope
from schemas.events import IvrAgentRequested, SmsMessageReceived
from schemas.nudges import Decision, Group, NudgeRequest

GoalKind = Literal["uses_self_service", "survey_reply", "no_agent_call"]
ANY_FUNCTION = "any"

_GOAL = re.compile(
    r"^(?:uses_self_service:(?P<item>[^:]+):(?P<hours>\d+)h"
    r"|survey_reply:(?P<survey_hours>\d+)h"
    r"|no_agent_call:(?P<days>\d+)d)$"
)
_HOUR_MS = 3_600_000
_SCORE = re.compile(r"^\s*([1-5])\s*(?:分)?\s*$")


class ParsedGoal(NamedTuple):
    kind: GoalKind
    #: Journey function keys (``web:bill.realtime``) that convert; empty = any self-service use.
    functions: tuple[str, ...]
    window_ms: int


def parse_goal(goal: str) -> ParsedGoal | None:
    """What a goal string asks for; None for one this code does not know. A self-service goal
    accepts the ways open now (:func:`orchestration.rules.guidance.way_for`)."""
    return _parse_goal(goal, guidance.version())


@lru_cache(maxsize=1024)
def _parse_goal(goal: str, ways: int) -> ParsedGoal | None:
    """:func:`parse_goal` while the ways are at version ``ways``."""
    match = _GOAL.match(goal)
    if match is None:
        return None
    if match["item"] is not None:
        item = match["item"]
        functions = () if item == ANY_FUNCTION else goal_functions(item)
        return ParsedGoal("uses_self_service", functions, int(match["hours"]) * _HOUR_MS)
    if match["survey_hours"] is not None:
        return ParsedGoal("survey_reply", (), int(match["survey_hours"]) * _HOUR_MS)
    return ParsedGoal("no_agent_call", (), int(match["days"]) * 24 * _HOUR_MS)


class OpenGoal(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One exposure still waiting for its goal: kept in the subscriber's state, so only what
    the goal string does not already say (its kind and functions are parsed from it)."""

    nudge_id: str
    rule_id: str
    campaign_id: str | None = None
    group: Group
    goal: str
    exposed_ms: int
    deadline_ms: int

    @property
    def kind(self) -> GoalKind:
        parsed = parse_goal(self.goal)
        assert parsed is not None, "an open goal's string parsed when it was opened"
        return parsed.kind

    @property
    def functions(self) -> tuple[str, ...]:
        parsed = parse_goal(self.goal)
        assert parsed is not None, "an open goal's string parsed when it was opened"
        return parsed.functions


class Reached(msgspec.Struct, frozen=True, kw_only=True):
    """What an event did to an open goal: converted it (with a survey's reply) or failed it."""

    converted: bool
    reply: str | None = None
    score: int | None = None


def opened(request: NudgeRequest, decision: Decision, exposed_ms: int) -> OpenGoal | None:
    """The goal an approved or holdout decision starts tracking; None for other outcomes or a
    goal string this code does not know (logged by the caller's counters, never fatal)."""
    if decision.outcome == "approved":
        group: Group = "sent"
    elif decision.outcome == "holdout":
        group = "holdout"
    else:
        return None
    parsed = parse_goal(request.goal)
    if parsed is None:
        return None
    return OpenGoal(
        nudge_id=request.nudge_id,
        rule_id=request.rule_id,
        campaign_id=request.campaign_id,
        group=group,
        goal=request.goal,
        exposed_ms=exposed_ms,
        deadline_ms=exposed_ms + parsed.window_ms,
    )


def goal_functions(item: str) -> tuple[str, ...]:
    """The journey keys of every self-service way to do ``item``."""
    way = guidance.way_for(item)
    keys = {f"ivr:{item}", f"sms:{item}", f"kiosk:{item}"}
    if way.web_function:
        keys.add(f"web:{way.web_function}")
    if way.wap_function:
        keys.add(f"wap:{way.wap_function}")
    return tuple(sorted(keys))


def reached(
    goal: OpenGoal, event: Envelope, at_ms: int, used: str | None, opt_out: bool
) -> Reached | None:
    """What ``event`` (at ``at_ms``; ``used`` its self-service key, ``opt_out`` whether it is
    an opt-out reply) does to ``goal``: None when it does not concern it."""
    if not goal.exposed_ms <= at_ms <= goal.deadline_ms:
        return None
    if goal.kind == "uses_self_service":
        if used is not None and (not goal.functions or used in goal.functions):
            return Reached(converted=True)
    elif goal.kind == "survey_reply":
        if isinstance(event, SmsMessageReceived) and not opt_out:
            text = event.attributes.text
            score = _SCORE.match(text)
            return Reached(converted=True, reply=text, score=int(score[1]) if score else None)
    elif isinstance(event, IvrAgentRequested):
        return Reached(converted=False)
    return None


def closes_on_deadline(goal: OpenGoal) -> bool:
    """Goals that convert by the window closing (no agent call), not by an event."""
    return goal.kind == "no_agent_call"
