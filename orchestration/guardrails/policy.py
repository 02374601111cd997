"""The guardrail decision for one nudge request: every check, in one documented order.

:meth:`GuardrailPolicy.decide` is pure: it reads the request, the rule's settings, the state and
the time it is given, and returns the decision with the new state. Nothing here touches Kafka,
faust or a clock, so the faust agent around it stays thin and replays are deterministic.

Order of checks (first match wins):

1. ``duplicate`` (suppressed): the nudge id was already decided; a replayed trigger.
2. ``expired`` (suppressed): the trigger is older than the rule's ``max_age``.
3. ``retired_service`` (suppressed): the text tells people to send an SMS code the service
   catalogue has retired by now (a campaign triggered, or a request held, before the
   retirement); the caller says so, the policy does not read the catalogue.
4. ``opted_out`` (suppressed): global opt-out, or of a code the rule lists.
5. ``not_due`` (held until the request's ``send_at``): asked before the rule's delay elapsed.
6. ``quiet_hours`` (held until the window opens, or suppressed if the rule drops).
7. ``in_live_call`` (held for ``live_call_retry``): still in an IVR call or agent queue.
8. ``frequency_cap_rule_day``, ``_rule_week``, ``frequency_cap_day``, ``_week`` (suppressed).
9. ``holdout``: the rule's control group; recorded as "would have sent now".
10. ``budget_exhausted`` (suppressed): the campaign cannot pay for this message.
11. ``rate_limited`` (held until the gateway has a token free).
12. otherwise ``approved``.

Why this order: permanent refusals come before "not now", so nothing waits only to be
refused. A text naming a retired code is wrong for everyone, so it is refused before anything
about the subscriber, and a holdout never "would have" received it. Holds count nothing (no
cap, token or budget is consumed until approval), and caps are checked after the holds
because they depend on the day the SMS really goes out. Holdout comes
after every subscriber-side check so the control group is exactly the people who would have
been sent the SMS at that moment: its "would have sent" time matches the sent group's send
time for attribution windows, and it counts toward the subscriber's caps like a real send,
so both groups see the same exposure to the other rules. Budget and gateway rate are not the
subscriber's business and come last; a holdout consumes neither. Budget comes before rate so
that an unpayable message does not wait for a token.

What is remembered as decided (and so caught as ``duplicate`` on replay): approvals, holdouts
and suppressions whose outcome could change with time (caps, a dropped quiet hour, budget).
Expired, retired-service and opted-out requests stay refused on any replay without memory
(the caller judges a retirement at the decision's time, as the catalogue stood then), and
holds are retried with the same id, so none of them takes a slot in the bounded memory.
"""

from __future__ import annotations  # the nested helpers' annotations cost 3% per decision

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec

from orchestration.guardrails.budget import BudgetState, charge, message_cost, would_exceed
from orchestration.guardrails.clock import to_local
from orchestration.guardrails.frequency import cap_reached
from orchestration.guardrails.holdout import in_holdout
from orchestration.guardrails.optout import is_opted_out
from orchestration.guardrails.quiet_hours import quiet_until
from orchestration.guardrails.ratelimit import TokenBucket, try_take
from orchestration.guardrails.reasons import Reason
from orchestration.guardrails.state import SubscriberState
from schemas.guardrails import GuardrailSettings, RateLimit
from schemas.nudges import Decision, NudgeRequest, Outcome

#: ``(rule_id, msisdn, share) -> bool``: whether the subscriber is in the rule's control group.
HoldoutMembership = Callable[[str, str, float], bool]


class GuardrailState(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one decision reads and may change, from three differently keyed stores.

    ``subscriber`` lives in a table keyed by MSISDN, ``gateway`` with the gateway the worker
    sends through, ``budget`` with the request's campaign (a fresh :class:`BudgetState` for
    rules without a budget). The caller stores back each part of the returned state.
    """

    subscriber: SubscriberState = msgspec.field(default_factory=SubscriberState)
    gateway: TokenBucket = msgspec.field(default_factory=TokenBucket)
    budget: BudgetState = msgspec.field(default_factory=BudgetState)


class GuardrailPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Process-wide guardrail settings, and :meth:`decide`, the one entry point.

    ``rate_limit`` is the gateway's (a worker sending through a shared gateway gets its share
    of the gateway's rate); ``live_call_retry`` is how long to wait before asking again
    while the subscriber is in a call; ``remembered_nudges`` bounds the decided ids kept per
    subscriber (at most 7 days of them).
    """

    rate_limit: RateLimit
    live_call_retry: timedelta = timedelta(minutes=2)
    remembered_nudges: int = 64
    #: Who is in a rule's control group, ``(rule_id, msisdn, share) -> bool``: the hash of
    #: the MSISDN (:func:`in_holdout`). A back-test (``channelhub rules backtest``)
    #: knows subscribers only by pseudonym, so it passes the membership the live stage
    #: recorded instead.
    holdout: HoldoutMembership = in_holdout

    def decide(
        self,
        request: NudgeRequest,
        settings: GuardrailSettings,
        state: GuardrailState,
        now: datetime,
        *,
        in_live_call: bool = False,
        names_retired: bool = False,
    ) -> tuple[Decision, GuardrailState]:
        """Decide ``request`` at ``now`` (aware); see the module docstring for the order.
        ``names_retired``: the request's text names an SMS code retired by ``now``."""
        now = to_local(now)  # refuses a naive time before any arithmetic with it
        sub = state.subscriber

        def refused(reason: Reason) -> tuple[Decision, GuardrailState]:
            return _decision(request, now, "suppressed", reason), state

        def held(reason: Reason, until: datetime) -> tuple[Decision, GuardrailState]:
            return _decision(request, now, "held", reason, until), state

        def final(
            outcome: Outcome, reason: Reason | None, new: GuardrailState
        ) -> tuple[Decision, GuardrailState]:
            remembered = new.subscriber.remember(request.nudge_id, now, self.remembered_nudges)
            return (
                _decision(request, now, outcome, reason),
                msgspec.structs.replace(new, subscriber=remembered),
            )

        if sub.has_decided(request.nudge_id):
            return refused("duplicate")
        if now - request.requested_at > settings.max_age:
            return refused("expired")
        if names_retired:
            return refused("retired_service")
        if is_opted_out(sub, settings):
            return refused("opted_out")
        if now < request.send_at:
            return held("not_due", request.send_at)
        if settings.quiet_hours is not None:
            opens = quiet_until(settings.quiet_hours, now)
            if opens is not None:
                if settings.quiet_hours.policy == "drop":
                    return final("suppressed", "quiet_hours", state)
                return held("quiet_hours", opens)
        if in_live_call and not settings.allow_in_live_call:
            return held("in_live_call", now + self.live_call_retry)
        cap = cap_reached(sub, request.rule_id, settings.caps, now)
        if cap is not None:
            return final("suppressed", cap, state)
        counted = msgspec.structs.replace(state, subscriber=sub.record_send(request.rule_id, now))
        if self.holdout(request.rule_id, request.msisdn, settings.holdout_share):
            return final("holdout", "holdout", counted)
        budget = state.budget
        if settings.budget is not None:
            cost = message_cost(request.text, settings.budget)
            if would_exceed(budget, settings.budget, cost):
                return final("suppressed", "budget_exhausted", state)
            budget = charge(budget, cost)
        gateway, free_at = try_take(state.gateway, self.rate_limit, now)
        if free_at is not None:  # the refilled bucket equals the stored one refilled later
            return held("rate_limited", free_at)
        approved = msgspec.structs.replace(counted, gateway=gateway, budget=budget)
        return final("approved", None, approved)


def _decision(
    request: NudgeRequest,
    now: datetime,
    outcome: Outcome,
    reason: Reason | None,
    send_at: datetime | None = None,
) -> Decision:
    """A decision with its times in UTC, whatever zone they were computed in."""
    return Decision(
        nudge_id=request.nudge_id,
        outcome=outcome,
        reason=reason,
        decided_at=now.astimezone(UTC),
        send_at=None if send_at is None else send_at.astimezone(UTC),
    )
