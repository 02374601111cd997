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
   older than the subscriber's newest event (an upstream replay, see :data:`LATE_MS`).
2. Advance the watermark (the newest ``occurred_at`` seen on the partition) and re-decide every
   held request whose time has come, at the watermark: with live traffic that is near wall
   time. An idle partition does not advance, so its held requests wait for its next event.
3. Record an opt-out if the event is an SMS to 10086 that says ``TD`` (or a variant).
4. ``evaluate`` the rules against the journey *before* the event, ``apply`` the event, then
   decide each new request at the event's time, "in a live call" judged on the journey after.
"""

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec

from orchestration.guardrails import (
    GuardrailPolicy,
    GuardrailState,
    SubscriberState,
    TokenBucket,
    parse_opt_out,
    record_opt_out,
)
from orchestration.journey import Journey, apply, in_live_call, to_ms
from orchestration.rules import Rule, evaluate
from schemas import Event
from schemas.events import SmsMessageReceived
from schemas.nudges import Decision, NudgeRequest

#: Event ids remembered per subscriber to drop the duplicates at-least-once delivery makes.
RECENT_EVENTS = 32
#: An event this much older than the subscriber's newest one is a replay, not late news: it is
#: neither evaluated nor applied (a replayed day must not re-trigger rules on a newer journey).
LATE_MS = 15 * 60_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_ms(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (exact)."""
    return _EPOCH + timedelta(milliseconds=ms)


def due_ms(until: datetime) -> int:
    """The first whole millisecond at or after ``until``: a request re-decided at the
    watermark must never be asked before its time (it would be held again, for ever)."""
    return -((_EPOCH - until) // timedelta(milliseconds=1))


class Held(msgspec.Struct, frozen=True, kw_only=True):
    """A request the guardrails said "not now" to, and when to ask again."""

    request: NudgeRequest
    until: datetime


class SubscriberNudges(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Everything the stage keeps about one subscriber: one changelog record."""

    journey: Journey = msgspec.field(default_factory=Journey)
    guardrails: SubscriberState = msgspec.field(default_factory=SubscriberState)
    held: tuple[Held, ...] = ()
    recent_events: tuple[str, ...] = ()
    newest_ms: int = 0


class DecidedNudge(msgspec.Struct, frozen=True, kw_only=True):
    """A decision with its request: the record of ``nudges.decisions`` and ``nudges.outbound``
    (the sink needs the request's subscriber, rule and time beside the outcome)."""

    request: NudgeRequest
    decision: Decision


@dataclass
class PartitionNudges:
    """The in-memory state of one partition; ``next_offset`` is the first event not yet in it."""

    subscribers: dict[str, SubscriberNudges] = field(default_factory=dict)
    watermark_ms: int = 0
    gateway: TokenBucket = field(default_factory=TokenBucket)
    #: The last send slot handed to a rate-limited request (see :meth:`NudgeCore._queue`).
    rate_queue: datetime = _EPOCH
    next_offset: int = 0
    #: (until ms, msisdn, nudge id) of every held request, earliest first.
    due: list[tuple[int, str, str]] = field(default_factory=list)

    def index_held(self) -> None:
        """Rebuild :attr:`due` from the subscribers (after a restore)."""
        self.due = [
            (due_ms(h.until), msisdn, h.request.nudge_id)
            for msisdn, sub in self.subscribers.items()
            for h in sub.held
        ]
        heapq.heapify(self.due)


@dataclass
class Outputs:
    """What one call of :meth:`NudgeCore.process` asks the stage to publish."""

    requests: list[NudgeRequest] = field(default_factory=list)
    decided: list[DecidedNudge] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)  # MSISDNs whose state changed
    skipped: int = 0  # duplicates and replays, not evaluated

    @property
    def approved(self) -> list[DecidedNudge]:
        return [d for d in self.decided if d.decision.outcome == "approved"]


@dataclass(frozen=True)
class NudgeCore:
    """The shipped (or given) rules and the guardrail policy of one partition's share."""

    rules: tuple[Rule, ...]
    policy: GuardrailPolicy

    @property
    def rules_by_id(self) -> Mapping[str, Rule]:
        return {rule.id: rule for rule in self.rules}

    def process(self, part: PartitionNudges, events: Iterable[tuple[int, Event]]) -> Outputs:
        """Fold ``(offset, event)`` pairs of one partition into ``part``; see the module doc."""
        out = Outputs()
        by_id = self.rules_by_id
        for offset, event in events:
            if offset < part.next_offset:
                out.skipped += 1
                continue
            part.next_offset = offset + 1
            part.watermark_ms = max(part.watermark_ms, to_ms(event.occurred_at))
            self._release_due(part, by_id, out)
            self._on_event(part, by_id, event, out)
        return out

    def _on_event(
        self, part: PartitionNudges, by_id: Mapping[str, Rule], event: Event, out: Outputs
    ) -> None:
        msisdn = event.msisdn
        if msisdn is None:
            return
        sub = part.subscribers.get(msisdn) or SubscriberNudges()
        at_ms = to_ms(event.occurred_at)
        if event.event_id in sub.recent_events or at_ms < sub.newest_ms - LATE_MS:
            out.skipped += 1
            return
        guardrails = sub.guardrails
        if isinstance(event, SmsMessageReceived):
            opt_out = parse_opt_out(event.attributes.text)
            if opt_out is not None:
                guardrails = record_opt_out(guardrails, opt_out, event.occurred_at)
        requests = evaluate(self.rules, event, sub.journey)
        sub = SubscriberNudges(
            journey=apply(sub.journey, event),
            guardrails=guardrails,
            held=sub.held,
            recent_events=(*sub.recent_events, event.event_id)[-RECENT_EVENTS:],
            newest_ms=max(sub.newest_ms, at_ms),
        )
        held_ids = {h.request.nudge_id for h in sub.held}
        for request in requests:
            if request.nudge_id in held_ids:
                continue  # already waiting: a replayed trigger within the dedupe window
            out.requests.append(request)
            sub = self._decide(part, sub, by_id[request.rule_id], request, event.occurred_at, out)
        part.subscribers[msisdn] = sub
        out.changed.add(msisdn)

    def _release_due(self, part: PartitionNudges, by_id: Mapping[str, Rule], out: Outputs) -> None:
        """Re-decide, at the watermark, every held request whose time has come."""
        now = from_ms(part.watermark_ms)
        while part.due and part.due[0][0] <= part.watermark_ms:
            _, msisdn, nudge_id = heapq.heappop(part.due)
            sub = part.subscribers[msisdn]
            held = next(h for h in sub.held if h.request.nudge_id == nudge_id)
            sub = msgspec.structs.replace(sub, held=tuple(h for h in sub.held if h is not held))
            rule = by_id.get(held.request.rule_id)
            if rule is not None:  # a rule removed since: its held nudges are dropped
                sub = self._decide(part, sub, rule, held.request, now, out)
            part.subscribers[msisdn] = sub
            out.changed.add(msisdn)

    def _decide(
        self,
        part: PartitionNudges,
        sub: SubscriberNudges,
        rule: Rule,
        request: NudgeRequest,
        now: datetime,
        out: Outputs,
    ) -> SubscriberNudges:
        state = GuardrailState(subscriber=sub.guardrails, gateway=part.gateway)
        live = in_live_call(sub.journey, to_ms(now))
        decision, new = self.policy.decide(request, rule.guardrails, state, now, in_live_call=live)
        part.gateway = new.gateway
        if decision.reason == "rate_limited":
            decision = self._queue(part, decision)
        out.decided.append(DecidedNudge(request=request, decision=decision))
        held = sub.held
        if decision.outcome == "held" and decision.send_at is not None:
            held = (*held, Held(request=request, until=decision.send_at))
            heapq.heappush(part.due, (due_ms(decision.send_at), request.msisdn, request.nudge_id))
        return msgspec.structs.replace(sub, guardrails=new.subscriber, held=held)

    def _queue(self, part: PartitionNudges, decision: Decision) -> Decision:
        """Give a rate-limited request its own slot behind the ones already waiting.

        The policy says when the *next* token is free; handing that same instant to every
        request of a burst (the 08:00 end of quiet hours releases hundreds at once) would
        re-decide them all at each token, quadratically many decisions. Slots one token
        interval apart keep it to about one retry per request.
        """
        assert decision.send_at is not None
        interval = timedelta(seconds=1 / self.policy.rate_limit.per_second)
        part.rate_queue = max(decision.send_at, part.rate_queue + interval)
        return msgspec.structs.replace(decision, send_at=part.rate_queue)
