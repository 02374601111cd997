"""The nudge stage's logic for one partition of ``channel.events``: deterministic, no I/O.

:meth:`NudgeCore.process` folds a partition's events, in offset order, into
:class:`PartitionNudges` (every subscriber's journey, guardrail memory and held requests, the
partition's event-time watermark and its share of the gateway's token bucket) and returns what
to publish. No Kafka, no clock: the time is always event time, so a replay or a backfill
decides exactly as the live traffic did, and the stage around it (:mod:`streams.nudges`) only
moves bytes.

Per event, in order:

1. Skip it if the partition state already reflects its offset (a restart re-reads the tail
   after the last checkpoint), or if the subscriber already saw its ``event_id`` or it is far
   older than the subscriber's newest event (an upstream replay, see :data:`LATE_MS`); a
   late event is still attributed (3) and its opt-out recorded (4).
2. Advance the watermark (the newest ``occurred_at`` seen on the partition) and re-decide every
   held request whose time has come, at the watermark: with live traffic that is near wall
   time. An idle partition does not advance, so its held requests wait for its next event.
   Then close every "no agent call" goal whose window has passed (a conversion).
3. Count the contact the event opens, if any, and the re-contact it reveals
   (:mod:`orchestration.contacts`); follow the subscriber's IVR call and summarise it once
   it is over, and re-contact its self-service calls (:mod:`orchestration.call_summaries`;
   a late event only re-contacts); follow its SMS confirmation dialogues and summarise each
   once it is over (:mod:`orchestration.sms_dialogues`; not with a late event). Attribute:
   the event may reach an open goal of a sent or held-out nudge
   (:mod:`orchestration.conversions`). Both are done for late events too.
4. Record an opt-out if the event is an SMS to 10086 that says ``TD`` (or a variant); this
   is done for late events too, so an opt-out is never lost to a slow SMS gateway.
5. ``evaluate`` the rules against the journey *before* the event, ``apply`` the event, then
   decide each new request at the event's time, "in a live call" judged on the journey after.
   An approved or holdout decision opens the request's goal.

Campaign requests (:meth:`NudgeCore.process_campaign`) come from ``campaigns.requests``, one
audience chunk of pseudonyms per partition: each is resolved to a subscriber this partition
knows and decided under the campaign's guardrails and this partition's share of its budget.

Every decision, of a rule's request or a campaign's, first asks :attr:`NudgeCore.retired_codes`
whether the text names an SMS code retired by the decision's (event) time: such a request is
suppressed as ``retired_service``, so a campaign triggered before a retirement and sent after
it sends nothing, and the refusal is a decision marketing sees like any other.
"""

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import msgspec

from kernel.clock import from_ms, to_ms
from kernel.pseudonym import Pseudonymizer
from orchestration.call_summaries import close as close_calls
from orchestration.call_summaries import step as summarise_calls
from orchestration.contacts import step as count_contacts
from orchestration.conversions import OpenGoal, closes_on_deadline, opened, reached
from orchestration.guardrails import (
    GuardrailPolicy,
    GuardrailSettings,
    GuardrailState,
    parse_opt_out,
    record_opt_out,
)
from orchestration.guardrails.budget import BudgetState
from orchestration.guardrails.state import id_digest
from orchestration.journey import (
    KEEP_MS,
    LIVE_CALL_TIMEOUT_MS,
    apply,
    function_used,
    in_live_call,
)
from orchestration.rules import Rule, evaluate
from orchestration.sms_dialogues import close as close_dialogues
from orchestration.sms_dialogues import step as summarise_dialogues
from orchestration.templates import BRAND_NAMES, PREFECTURE_NAMES, Template, compile_template
from schemas import Event
from schemas.calls import CallSummarised
from schemas.campaigns import CampaignRequest, campaign_rule_id
from schemas.contacts import ContactCounted
from schemas.dialogues import DIALOGUE_FOLLOW_MS, DialogueSummarised
from schemas.events import SmsMessageReceived
from schemas.nudges import (
    Conversion,
    DecidedNudge,
    Decision,
    NudgeRequest,
    OptOutRecorded,
    nudge_id,
)
from streams.nudge_state import (
    Held,
    PartitionNudges,
    SubscriberNudges,
    due_ms,
)

#: ``(text, at) -> codes``: the SMS codes the text names that the service catalogue had retired
#: at ``at`` (:meth:`orchestration.catalogue.Catalogue.retired_codes_in`).
RetiredCodes = Callable[[str, datetime], list[str]]


def no_retirements(text: str, at: datetime) -> list[str]:
    """A catalogue that retired nothing: a core given no catalogue."""
    return []


#: The fields a campaign template may use: a campaign has no triggering event to draw on.
CAMPAIGN_FIELDS = ("brand_name", "prefecture_name")

#: Event ids remembered per subscriber to drop the duplicates at-least-once delivery makes
#: (a re-validated raw tail or a collector's retried batch: the same events again, minutes
#: apart at most; older copies are caught as late by :data:`LATE_MS`).
RECENT_EVENTS = 16
#: Subscribers looked at per call of :meth:`NudgeCore.process` for eviction, and how much
#: event time passes between the starts of two sweeps of the whole partition.
SWEEP_PER_BATCH = 2000
SWEEP_EVERY_MS = 3_600_000
#: An event this much older than the subscriber's newest one is a replay, not late news: it is
#: neither evaluated nor applied (a replayed day must not re-trigger rules on a newer journey).
LATE_MS = 15 * 60_000


@dataclass
class Outputs:
    """What one call of :meth:`NudgeCore.process` asks the stage to publish."""

    requests: list[NudgeRequest] = field(default_factory=list)
    decided: list[DecidedNudge] = field(default_factory=list)
    conversions: list[Conversion] = field(default_factory=list)
    opt_outs: list[OptOutRecorded] = field(default_factory=list)
    #: Contacts opened and sessions found re-contacted (:mod:`orchestration.contacts`).
    contacts: list[ContactCounted] = field(default_factory=list)
    #: IVR calls summarised and self-service calls re-contacted
    #: (:mod:`orchestration.call_summaries`).
    calls: list[CallSummarised] = field(default_factory=list)
    #: SMS confirmation dialogues summarised (:mod:`orchestration.sms_dialogues`).
    dialogues: list[DialogueSummarised] = field(default_factory=list)
    skipped: int = 0  # duplicates and replays, not evaluated
    #: Campaign audience members this partition has never seen an event of (or has evicted).
    unknown_subscribers: int = 0
    #: Subscribers whose state was evicted (:meth:`NudgeCore._sweep`).
    evicted: int = 0

    @property
    def approved(self) -> list[DecidedNudge]:
        return [d for d in self.decided if d.decision.outcome == "approved"]


@dataclass(frozen=True)
class NudgeCore:
    """The shipped (or given) rules and the guardrail policy of one partition's share."""

    rules: tuple[Rule, ...]
    policy: GuardrailPolicy
    #: MSISDN → the pseudonym ClickHouse knows it by (campaign audiences are pseudonyms).
    pseudonymize: Pseudonymizer | None = None
    #: How long after a subscriber's newest event its state is kept (when nothing else holds
    #: it): the journey's window, the longest any rule looks back.
    keep_ms: int = KEEP_MS
    #: Which SMS codes a text names that were retired at the decision's time: a request
    #: triggered (or held) before a retirement and decided after it is refused as
    #: ``retired_service``, nothing sent.
    retired_codes: RetiredCodes = no_retirements

    @property
    def rules_by_id(self) -> Mapping[str, Rule]:
        return {rule.id: rule for rule in self.rules}

    def process(
        self,
        part: PartitionNudges,
        events: Iterable[tuple[int, Event]],
        *,
        horizon_ms: int | None = None,
    ) -> Outputs:
        """Fold ``(offset, event)`` pairs of one partition into ``part``; see the module doc.

        ``horizon_ms`` (the wall clock plus the accepted clock skew) caps the watermark: an
        event stamped further ahead, had one got past validation, must not expire every held
        nudge of the partition. Events in the past, live or replayed, never reach the cap, so
        decisions still depend on event time alone.
        """
        out = Outputs()
        by_id = self.rules_by_id
        for offset, event in events:
            if offset < part.next_offset:
                out.skipped += 1
                continue
            part.next_offset = offset + 1
            occurred_ms = to_ms(event.occurred_at)
            if horizon_ms is not None:
                occurred_ms = min(occurred_ms, horizon_ms)
            part.watermark_ms = max(part.watermark_ms, occurred_ms)
            self._release_due(part, by_id, out)
            self._close_goals(part, out)
            self._on_event(part, by_id, event, out)
        out.evicted = self._sweep(part, out)
        return out

    def _sweep(self, part: PartitionNudges, out: Outputs) -> int:
        """Close the calls of subscribers silent for the calls' timeout, and evict the
        subscribers no window can use any more; return how many were evicted.

        A state is needed while the journey's window (:attr:`keep_ms`) is open, and while a
        request is held or a goal is open; caps, decided ids and dedupe all look back less
        far. Once all are closed, the subscriber's next event finds what a new subscriber
        finds (its opt-outs aside, which :attr:`PartitionNudges.opt_outs` keeps), so
        evicting changes no decision. A few thousand states are looked at per call, walking
        the whole partition once per hour of event time
        (:meth:`~streams.nudge_state.SubscriberStore.sweep`). A call silent that long is over
        (:func:`orchestration.call_summaries.close`), so its summary does not wait for the
        subscriber's next event, and so is an SMS dialogue silent for its follow window
        (:func:`orchestration.sms_dialogues.close`); a state is closed before it is evicted.
        """
        store, now_ms = part.subscribers, part.watermark_ms
        swept = store.sweep(
            now_ms, self.keep_ms, LIVE_CALL_TIMEOUT_MS, DIALOGUE_FOLLOW_MS, SWEEP_PER_BATCH,
            SWEEP_EVERY_MS,
        )  # fmt: skip
        for msisdn in swept.calls:
            sub = store[msisdn]
            calls, done = close_calls(sub.calls, msisdn, now_ms)
            out.calls += done
            if calls is not sub.calls:
                store[msisdn] = msgspec.structs.replace(sub, calls=calls)
        for msisdn in swept.dialogues:
            sub = store[msisdn]
            dialogues, said = close_dialogues(sub.dialogues, msisdn, now_ms)
            out.dialogues += said
            if dialogues is not sub.dialogues:
                store[msisdn] = msgspec.structs.replace(sub, dialogues=dialogues)
        for msisdn in swept.idle:
            del store[msisdn]
        return len(swept.idle)

    def process_campaign(self, part: PartitionNudges, request: CampaignRequest) -> Outputs:
        """Ask, for each audience member on this partition, for the campaign's SMS.

        Members are decided at the campaign's scheduled time, or at the partition's watermark
        if that is later (a campaign cannot be sent in the past of the stream). Pseudonyms the
        partition has no subscriber for are counted, not guessed.
        """
        out = Outputs()
        rule_id = campaign_rule_id(request.campaign_id)
        template = _campaign_template(request.template)
        now = max(request.requested_at, from_ms(part.watermark_ms))
        for pseudonym in request.subscribers:
            msisdn = self._resolve(part, pseudonym)
            sub = None if msisdn is None else part.subscribers.get(msisdn)
            if msisdn is None or sub is None or sub.prefecture is None:
                out.unknown_subscribers += 1
                continue
            nudge = NudgeRequest(
                nudge_id=nudge_id(rule_id, f"{request.trigger_id}\x1f{msisdn}"),
                rule_id=rule_id,
                campaign_id=request.campaign_id,
                trigger_event_id=request.trigger_id,
                msisdn=msisdn,
                prefecture=sub.prefecture,
                brand=sub.brand,
                text=template.render(
                    {
                        "brand_name": BRAND_NAMES.get(sub.brand or ""),
                        "prefecture_name": PREFECTURE_NAMES.get(sub.prefecture or ""),
                    }
                ),
                template_version=request.template_version,
                goal=request.goal.goal_id(""),
                requested_at=request.requested_at,
                send_at=request.requested_at,
            )
            if any(h.request.nudge_id == nudge.nudge_id for h in sub.held):
                continue  # a re-delivered chunk: this member's request is already waiting
            out.requests.append(nudge)
            sub = self._decide(part, sub, request.guardrails, nudge, now, out)
            part.subscribers[msisdn] = sub
        return out

    def _resolve(self, part: PartitionNudges, pseudonym: str) -> str | None:
        if self.pseudonymize is None:
            raise RuntimeError("campaign requests need NudgeCore.pseudonymize")
        if part.pseudonyms_generation != part.subscribers.generation:
            pseudonymize = self.pseudonymize
            part.pseudonyms = {pseudonymize(m): m for m in part.subscribers}
            part.pseudonyms_generation = part.subscribers.generation
        # A chunk fanned out before the key rotated names its members under the retired key.
        current = self.pseudonymize.current(pseudonym)
        return part.pseudonyms.get(current) if current is not None else None

    def _on_event(
        self, part: PartitionNudges, by_id: Mapping[str, Rule], event: Event, out: Outputs
    ) -> None:
        msisdn = event.msisdn
        if msisdn is None:
            return
        known = part.subscribers.get(msisdn)
        sub = known or part.new_subscriber(msisdn)
        at_ms = to_ms(event.occurred_at)
        digest = id_digest(event.event_id)
        if digest in sub.recent:
            out.skipped += 1
            return
        opt_out = None
        if isinstance(event, SmsMessageReceived):
            opt_out = parse_opt_out(event.attributes.text)
        sub = self._count_contacts(sub, msisdn, event, at_ms, out)
        late = at_ms < sub.newest_ms - LATE_MS
        calls, done = summarise_calls(sub.calls, msisdn, event, at_ms, late=late)
        out.calls += done
        if calls is not sub.calls:
            sub = msgspec.structs.replace(sub, calls=calls)
        dialogues, said = summarise_dialogues(sub.dialogues, msisdn, event, at_ms, late=late)
        out.dialogues += said
        if dialogues is not sub.dialogues:
            sub = msgspec.structs.replace(sub, dialogues=dialogues)
        # Attribution first, and even for a late event: a conversion is news whenever it comes.
        sub = self._attribute(sub, msisdn, event, at_ms, opt_out is not None, out)
        # So is an opt-out: a subscriber who said TD is never sent to again, however late the
        # message reached us.
        if opt_out is not None:
            recorded = record_opt_out(sub.guardrails, opt_out, event.occurred_at)
            if recorded is not sub.guardrails:
                out.opt_outs.append(
                    OptOutRecorded(
                        msisdn=msisdn, scope=opt_out.scope, event_id=event.event_id,
                        at=event.occurred_at,
                    )
                )  # fmt: skip
                sub = msgspec.structs.replace(sub, guardrails=recorded)
                part.opt_outs[msisdn] = recorded.opt_outs
                part.opt_outs_changed.add(msisdn)
        if at_ms < sub.newest_ms - LATE_MS:
            out.skipped += 1
            if sub is not known:
                part.subscribers[msisdn] = sub
            return
        requests = evaluate(self.rules, event, sub.journey)
        sub = msgspec.structs.replace(
            sub,
            journey=apply(sub.journey, event),
            recent=(*_still_recent(sub, at_ms), digest)[-RECENT_EVENTS:],
            newest_ms=max(sub.newest_ms, at_ms),
            prefecture=event.prefecture,
            brand=event.brand,
        )
        held_ids = {h.request.nudge_id for h in sub.held}
        for request in requests:
            if request.nudge_id in held_ids:
                continue  # already waiting: a replayed trigger within the dedupe window
            out.requests.append(request)
            rule = by_id[request.rule_id]
            sub = self._decide(part, sub, rule.guardrails, request, event.occurred_at, out)
        part.subscribers[msisdn] = sub

    @staticmethod
    def _count_contacts(
        sub: SubscriberNudges, msisdn: str, event: Event, at_ms: int, out: Outputs
    ) -> SubscriberNudges:
        """Count the contact the event opens, if any, and the re-contact it reveals; late
        events too, since a contact is one whenever its first event arrives."""
        sessions, counted = count_contacts(sub.contacts, event.session_id, event.channel, at_ms)
        out.contacts += [
            ContactCounted(
                contact_id=c.contact_id(msisdn), kind=c.kind, msisdn=msisdn, channel=c.channel,
                first_at=from_ms(c.first_ms), opens_session=c.opens_session,
            )
            for c in counted
        ]  # fmt: skip
        return msgspec.structs.replace(sub, contacts=sessions)

    def _attribute(
        self,
        sub: SubscriberNudges,
        msisdn: str,
        event: Event,
        at_ms: int,
        opt_out: bool,
        out: Outputs,
    ) -> SubscriberNudges:
        """Convert, fail or expire the subscriber's open goals in the light of ``event``."""
        if not sub.goals:
            return sub
        used = function_used(event)
        kept: list[OpenGoal] = []
        for goal in sub.goals:
            if at_ms > goal.deadline_ms and not closes_on_deadline(goal):
                continue  # expired unconverted: nothing to record, the exposure says it all
            result = reached(goal, event, at_ms, used, opt_out)
            if result is None:
                kept.append(goal)
            elif result.converted:
                out.conversions.append(
                    _conversion(goal, msisdn, event.occurred_at, event.event_id, result.reply,
                                result.score)
                )  # fmt: skip
        if len(kept) == len(sub.goals):
            return sub
        return msgspec.structs.replace(sub, goals=tuple(kept))

    def _close_goals(self, part: PartitionNudges, out: Outputs) -> None:
        """Convert every "no agent call" goal whose window closed without one."""
        while part.goal_due and part.goal_due[0][0] < part.watermark_ms:
            _, msisdn, goal_id = heapq.heappop(part.goal_due)
            sub = part.subscribers.get(msisdn)
            if sub is None:
                continue  # failed by an agent call, and the subscriber evicted since
            goal = next((g for g in sub.goals if g.nudge_id == goal_id), None)
            if goal is None:
                continue  # failed by an agent call meanwhile
            out.conversions.append(
                _conversion(goal, msisdn, from_ms(goal.deadline_ms), "", None, None)
            )
            part.subscribers[msisdn] = msgspec.structs.replace(
                sub, goals=tuple(g for g in sub.goals if g is not goal)
            )

    def _release_due(self, part: PartitionNudges, by_id: Mapping[str, Rule], out: Outputs) -> None:
        """Re-decide, at the watermark, every held request whose time has come."""
        if not part.due or part.due[0][0] > part.watermark_ms:
            return  # the common case, on every event: nothing is due
        now = from_ms(part.watermark_ms)
        while part.due and part.due[0][0] <= part.watermark_ms:
            _, nudge_id, msisdn = heapq.heappop(part.due)
            sub = part.subscribers[msisdn]
            held = next(h for h in sub.held if h.request.nudge_id == nudge_id)
            sub = msgspec.structs.replace(sub, held=tuple(h for h in sub.held if h is not held))
            settings = held.guardrails
            if settings is None:
                rule = by_id.get(held.request.rule_id)
                settings = None if rule is None else rule.guardrails
            if settings is not None:  # a rule removed since: its held nudges are dropped
                sub = self._decide(part, sub, settings, held.request, now, out)
            part.subscribers[msisdn] = sub

    def _decide(
        self,
        part: PartitionNudges,
        sub: SubscriberNudges,
        settings: GuardrailSettings,
        request: NudgeRequest,
        now: datetime,
        out: Outputs,
    ) -> SubscriberNudges:
        campaign = request.campaign_id
        state = GuardrailState(
            subscriber=sub.guardrails,
            gateway=part.gateway,
            budget=part.budgets.get(campaign, BudgetState()) if campaign else BudgetState(),
        )
        live = in_live_call(sub.journey, to_ms(now))
        retired = bool(self.retired_codes(request.text, now))
        decision, new = self.policy.decide(
            request, settings, state, now, in_live_call=live, names_retired=retired
        )
        part.gateway = new.gateway
        if campaign is not None:
            part.budgets[campaign] = new.budget
        if decision.reason == "rate_limited":
            decision = self._queue(part, decision, request, settings)
        out.decided.append(DecidedNudge(request=request, decision=decision))
        held, goals = sub.held, sub.goals
        if decision.outcome == "held" and decision.send_at is not None:
            kept = settings if campaign is not None else None
            held = (*held, Held(request=request, until=decision.send_at, guardrails=kept))
            heapq.heappush(part.due, (due_ms(decision.send_at), request.nudge_id, request.msisdn))
        goal = opened(request, decision, to_ms(decision.decided_at))
        if goal is not None:
            goals = (*goals, goal)
            if closes_on_deadline(goal):
                heapq.heappush(part.goal_due, (goal.deadline_ms, request.msisdn, goal.nudge_id))
        return msgspec.structs.replace(sub, guardrails=new.subscriber, held=held, goals=goals)

    def _queue(
        self,
        part: PartitionNudges,
        decision: Decision,
        request: NudgeRequest,
        settings: GuardrailSettings,
    ) -> Decision:
        """Give a rate-limited request its own slot behind the ones already waiting, or
        refuse it as ``expired`` now if that slot comes after its rule's ``max_age``.

        The policy says when the *next* token is free; handing that same instant to every
        request of a burst (the 08:00 end of quiet hours releases hundreds at once) would
        re-decide them all at each token, quadratically many decisions. Slots one token
        interval apart keep it to about one retry per request. A request whose slot is past
        its expiry would only be held to be refused then: while triggers outrun the
        gateway, holding them all would grow the state by the whole excess of a day.
        """
        assert decision.send_at is not None
        interval = timedelta(seconds=1 / self.policy.rate_limit.per_second)
        slot = max(decision.send_at, part.rate_queue + interval)
        if slot - request.requested_at > settings.max_age:
            return msgspec.structs.replace(
                decision, outcome="suppressed", reason="expired", send_at=None
            )
        part.rate_queue = slot
        return msgspec.structs.replace(decision, send_at=slot)


def _conversion(
    goal: OpenGoal,
    msisdn: str,
    at: datetime,
    event_id: str,
    reply: str | None,
    score: int | None,
) -> Conversion:
    return Conversion(
        nudge_id=goal.nudge_id,
        rule_id=goal.rule_id,
        campaign_id=goal.campaign_id,
        msisdn=msisdn,
        group=goal.group,
        goal=goal.goal,
        exposed_at=from_ms(goal.exposed_ms),
        converted_at=at,
        event_id=event_id,
        reply=reply,
        score=score,
    )


def _still_recent(sub: SubscriberNudges, at_ms: int) -> tuple[int, ...]:
    """The event digests worth keeping beside an event at ``at_ms``: none once it is more than
    :data:`LATE_MS` past the subscriber's newest, since a copy of any earlier event would then
    be skipped as late anyway (and a late copy changes nothing: its goal is already
    converted, its opt-out already recorded)."""
    return sub.recent if at_ms - LATE_MS <= sub.newest_ms else ()


@lru_cache(maxsize=64)
def _campaign_template(source: str) -> Template:
    """A campaign's template, compiled once per text; the fan-out checked it already."""
    return compile_template(source, CAMPAIGN_FIELDS)
