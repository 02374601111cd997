"""IVR calls summarised once, when they are over: what the IVR deep-dive reads at a province's
volume instead of merging every call's events at query time.

The nudge stage follows each subscriber's calls in progress (as :mod:`orchestration.journey`
follows the current one; a subscriber can be in two at once) and, when one is over, turns it
into one :class:`~schemas.calls.CallSummarised`: its start, prefecture, brand, lead-in variant
and busy flag (from ``ivr.call_started``), the distinct menu steps ``"<key path> <item>"`` and
the latest one, whether the caller pressed 0 (``ivr.agent_requested``), and the outcome and
time of ``ivr.call_ended``. A call is over at its ``ivr.call_ended``, or when it has had no
event for :data:`~orchestration.journey.LIVE_CALL_TIMEOUT_MS` (found at the subscriber's next
event, or by the stage's sweep), or when more than :data:`MAX_LIVE` calls of the subscriber
are in progress (the oldest); the last two with no outcome, as a call never ended.

Containment: a self-service call (ended ``self_service`` with no agent request) is kept, a
few integers, for :data:`~schemas.calls.CONTAINMENT_WINDOW_MS` after its end; the first
event of another session of the subscriber, on any channel, in ``(end, end + window]``
makes it a ``recontacted`` record (with the minute the call started: all the state keeps of
its start), and it is dropped once an event (or the sweep) is past its window. A contained
call is a self-service call with no such record.

Where this differs from grouping the stored events by call (the definitions the fill in
:mod:`sinks.tables.ivr_calls` still applies to the events stored before the stage summarised
calls): a call still in progress is not counted until it is over; a call's events that arrive
after it is over, or more than :data:`~streams.nudge_core.LATE_MS` behind the subscriber's
newest event, are not in its summary; a re-contact whose event arrives before the call's end is
processed, or after the window has been seen to pass, is not counted; and a call keeps at most
:data:`MAX_STEPS` distinct steps.

:func:`step` and :func:`close` are pure; the nudge stage keeps each subscriber's
:class:`Calls` in its changelogged state, so it is small: one byte for a subscriber in no call
and with no self-service call in the last day, the live call's fields while it lasts, and
three integers (19 bytes) for a day after a self-service call.
"""

import msgspec

from kernel.clock import from_ms
from orchestration.guardrails.state import id_digest
from orchestration.journey import LIVE_CALL_TIMEOUT_MS
from schemas import Event
from schemas.calls import CONTAINMENT_WINDOW_MS, CallSummarised
from schemas.envelope import BRANDS, PREFECTURES
from schemas.events import IvrAgentRequested, IvrCallEnded, IvrCallStarted, IvrMenuSelected

#: Distinct menu steps kept per call (the menu has about 40): a caller wandering further
#: keeps the first ones.
MAX_STEPS = 32
#: Calls of one subscriber followed at once (the simulator's callers sometimes start a second
#: call before the first has ended), and self-service calls waiting in their window (more than
#: one only when two end on the same millisecond: any later event of another session
#: re-contacts them).
MAX_LIVE = MAX_SERVED = 3

_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


class LiveCall(msgspec.Struct, frozen=True, array_like=True):
    """The subscriber's call in progress, as its summary needs it."""

    key: int  # the high 32 bits of the session id's id_digest
    started_ms: int  # its ivr.call_started
    span_ms: int  # from the start to its latest IVR event, for the timeout
    prefecture: int  # PREFECTURES index, of the start
    brand: int  # BRANDS index + 1 of the start, 0 for none
    variant: str
    busy: bool
    steps: tuple[str, ...] = ()
    last: int = -1  # index in steps of the latest selection
    last_after_ms: int = 0  # that selection's time after the start
    zero: bool = False

    @property
    def last_ms(self) -> int:
        return self.started_ms + self.span_ms


class SelfServed(msgspec.Struct, frozen=True, array_like=True):
    """A self-service call whose containment window is still open: 16 bytes encoded, kept for
    a day by a good share of subscribers, so its start is kept only to the minute (the minute
    its re-contact is counted in)."""

    key: int
    ended_ms: int
    minutes: int  # from the minute it started to the minute it ended

    @property
    def started_minute_ms(self) -> int:
        return (self.ended_ms // 60_000 - self.minutes) * 60_000


class Calls(msgspec.Struct, frozen=True, array_like=True):
    """One subscriber's self-service calls whose window is open, and its calls in progress,
    oldest first."""

    served: tuple[SelfServed, ...] = ()
    live: tuple[LiveCall, ...] = ()


def call_id(msisdn: str, key: int, at_ms: int, kind: str) -> str:
    """Unique per call (the subscriber, the session's key, its start or end) and record kind,
    and the same when a replay summarises it again. Letters only: no run of digits in it can
    look like a phone number to the scrubber."""
    digest = id_digest(f"{msisdn}\x1f{key}\x1f{at_ms}")
    return f"{f'{digest:016x}'.translate(_LETTERS)}-{kind}"


def step(
    calls: Calls | None, msisdn: str, event: Event, at_ms: int, *, late: bool
) -> tuple[Calls | None, list[CallSummarised]]:
    """The calls after ``event`` (at ``at_ms``) and the records it completes. ``late`` events
    (far behind the subscriber's newest) only re-contact: they are not part of a call."""
    starts = isinstance(event, IvrCallStarted) and not late
    if calls is None and not starts:
        return calls, []  # most events: no call in progress nor in a containment window
    served, live = (calls.served, calls.live) if calls is not None else ((), ())
    key = id_digest(event.session_id) >> 32
    done: list[CallSummarised] = []
    if served:
        served = _recontacted(served, msisdn, key, at_ms, done)
    if not late:
        live = _timed_out(live, msisdn, at_ms, done)
        own = next((c for c in live if c.key == key), None)
        if isinstance(event, IvrCallStarted) and own is None:
            live = (*live, _started(event, key, at_ms))
            if len(live) > MAX_LIVE:
                done.append(_summary(live[0], msisdn, None, None))
                live = live[1:]
        elif own is not None and event.channel == "ivr":
            if isinstance(event, IvrCallEnded):
                outcome = event.attributes.outcome
                done.append(_summary(own, msisdn, at_ms, outcome))
                if outcome == "self_service" and not own.zero:
                    minutes = at_ms // 60_000 - own.started_ms // 60_000
                    served = (*served, SelfServed(own.key, at_ms, minutes))[-MAX_SERVED:]
                live = tuple(c for c in live if c is not own)
            else:
                followed = _followed(own, event, at_ms)
                live = tuple(followed if c is own else c for c in live)
    return _kept(calls, served, live), done


def close(
    calls: Calls | None, msisdn: str, now_ms: int
) -> tuple[Calls | None, list[CallSummarised]]:
    """The calls once the stream is at ``now_ms`` with no event of the subscriber since its
    last: a call silent for the timeout is over, a containment window that passed is
    dropped (the sweep's share of :func:`step`)."""
    if calls is None:
        return calls, []
    done: list[CallSummarised] = []
    live = _timed_out(calls.live, msisdn, now_ms, done)
    served = tuple(c for c in calls.served if now_ms <= c.ended_ms + CONTAINMENT_WINDOW_MS)
    return _kept(calls, calls.served if len(served) == len(calls.served) else served, live), done


def _kept(
    calls: Calls | None, served: tuple[SelfServed, ...], live: tuple[LiveCall, ...]
) -> Calls | None:
    """``calls`` itself when nothing changed (the stage then writes nothing), else the new
    state: None when nothing is left to follow."""
    if calls is not None and served is calls.served and live is calls.live:
        return calls
    return Calls(served, live) if served or live else None


def _timed_out(
    live: tuple[LiveCall, ...], msisdn: str, now_ms: int, done: list[CallSummarised]
) -> tuple[LiveCall, ...]:
    """The calls still in progress at ``now_ms``; those silent for the timeout are over, with
    their records in ``done``."""
    over = [c for c in live if now_ms - c.last_ms > LIVE_CALL_TIMEOUT_MS]
    if not over:
        return live
    done += [_summary(c, msisdn, None, None) for c in over]
    return tuple(c for c in live if now_ms - c.last_ms <= LIVE_CALL_TIMEOUT_MS)


def _recontacted(
    served: tuple[SelfServed, ...], msisdn: str, key: int, at_ms: int, done: list[CallSummarised]
) -> tuple[SelfServed, ...]:
    """The self-service calls still waiting after an event of session ``key`` at ``at_ms``;
    the records of those it re-contacts go to ``done``."""
    kept = []
    for c in served:
        window_end = c.ended_ms + CONTAINMENT_WINDOW_MS
        if c.key != key and c.ended_ms < at_ms <= window_end:
            done.append(
                CallSummarised(
                    call_id=call_id(msisdn, c.key, c.ended_ms, "recontacted"),
                    kind="recontacted", msisdn=msisdn,
                    started_at=from_ms(c.started_minute_ms), ended_at=from_ms(c.ended_ms),
                )
            )  # fmt: skip
        elif at_ms <= window_end:
            kept.append(c)
    return served if len(kept) == len(served) else tuple(kept)


def _started(event: IvrCallStarted, key: int, at_ms: int) -> LiveCall:
    return LiveCall(
        key=key,
        started_ms=at_ms,
        span_ms=0,
        prefecture=PREFECTURES.index(event.prefecture),
        brand=0 if event.brand is None else BRANDS.index(event.brand) + 1,
        variant=event.attributes.lead_in_variant,
        busy=event.attributes.busy_period,
    )


def _followed(live: LiveCall, event: Event, at_ms: int) -> LiveCall:
    """The live call after another of its IVR events (not its end)."""
    after = at_ms - live.started_ms
    changes: dict[str, object] = {"span_ms": max(live.span_ms, after)}
    if isinstance(event, IvrMenuSelected):
        chosen = f"{event.attributes.key_path} {event.attributes.item}"
        steps = live.steps
        if chosen not in steps and len(steps) < MAX_STEPS:
            steps = (*steps, chosen)
            changes["steps"] = steps
        if chosen in steps and (live.last < 0 or after >= live.last_after_ms):
            changes.update(last=steps.index(chosen), last_after_ms=after)
    elif isinstance(event, IvrAgentRequested):
        changes["zero"] = True
    return msgspec.structs.replace(live, **changes)


def _summary(
    live: LiveCall, msisdn: str, ended_ms: int | None, outcome: str | None
) -> CallSummarised:
    return CallSummarised(
        call_id=call_id(msisdn, live.key, live.started_ms, "call"),
        kind="call",
        msisdn=msisdn,
        started_at=from_ms(live.started_ms),
        ended_at=None if ended_ms is None else from_ms(ended_ms),
        prefecture=PREFECTURES[live.prefecture],  # type: ignore[arg-type]
        brand=BRANDS[live.brand - 1] if live.brand else None,  # type: ignore[arg-type]
        lead_in_variant=live.variant,
        busy_period=live.busy,
        steps=live.steps,
        last_step=live.steps[live.last] if live.last >= 0 else None,
        pressed_zero=live.zero,
        outcome=outcome,  # type: ignore[arg-type]
    )
