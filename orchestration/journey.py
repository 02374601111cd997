"""Per-subscriber journey: what one MSISDN did recently on every channel, folded from events.

The nudge stage keeps one :class:`Journey` per MSISDN in its changelogged state
(:mod:`streams.nudge_state`), so it must be small (``array_like``: encoded without field
names), serialisable (msgspec) and bounded: channel and function uses older
than :data:`KEEP_MS` are dropped, and at most :data:`MAX_FUNCTIONS` functions and
:data:`MAX_AGENT_CONTACTS` agent contacts are kept. Times are integer milliseconds since the
epoch (UTC): cheaper to store and compare than datetimes.

:func:`apply` is pure: it returns a new journey and never mutates its input, so a rule
evaluation can look at the state *before* an event while the worker stores the state *after*.
Opt-outs are not here: the guardrails own them.
"""

import msgspec

from kernel.clock import to_ms
from schemas.envelope import Envelope
from schemas.events import (
    AgentRequestHandled,
    IvrAbandoned,
    IvrAgentAnswered,
    IvrAgentRequested,
    IvrCallEnded,
    IvrCallStarted,
    IvrMenuSelected,
    IvrQueueEntered,
    IvrSelfServiceCompleted,
    KioskServiceCompletedEvent,
    SmsReplySent,
    SmsServiceCompletedEvent,
    WapFunctionUsed,
    WebFunctionUsed,
)

DAY_MS = 86_400_000
#: How far back the journey remembers anything: "has not used X in 30 days" is the longest
#: question the rules ask.
KEEP_MS = 30 * DAY_MS
MAX_FUNCTIONS = 32
MAX_AGENT_CONTACTS = 16
#: A call with no event for this long is treated as over: a lost ``ivr.call_ended`` must not
#: hold the subscriber's nudges forever.
LIVE_CALL_TIMEOUT_MS = 2 * 3_600_000
#: The IVR menu item (or agent-request topic) when the caller never chose one.
UNKNOWN_ITEM = "unknown"


class Call(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """The subscriber's current IVR call."""

    session_id: str
    last_ms: int  # time of the call's latest event, for the live-call timeout
    busy_period: bool  # from call_started, refined by queue_entered
    item: str = UNKNOWN_ITEM  # last menu item chosen, or the topic the agent request named
    in_queue: bool = False
    with_agent: bool = False


class SmsDialogue(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """The subscriber's latest SMS-hall dialogue with 10086."""

    session_id: str
    service: str | None = None  # the last service carried out in this dialogue
    #: A service just succeeded and its result reply has not gone out yet: the next
    #: ``sms.reply_sent`` is the "successful final reply" an appended promotion follows.
    result_reply_due: bool = False


class Journey(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, array_like=True):
    """What one subscriber did recently; the empty journey is ``Journey()``."""

    #: channel → time of the latest event on it (``agent`` is a request an agent handled).
    channel_last_ms: dict[str, int] = msgspec.field(default_factory=dict)
    #: ``<channel>:<function>`` → time of the latest successful use, e.g. ``web:bill.realtime``,
    #: ``sms:query.realtime_charges``, ``ivr:query.monthly_bill``.
    function_last_ms: dict[str, int] = msgspec.field(default_factory=dict)
    #: times of recent requests handled by an agent, oldest first.
    agent_contacts_ms: tuple[int, ...] = ()
    call: Call | None = None
    sms: SmsDialogue | None = None


def live_call(journey: Journey, now_ms: int) -> Call | None:
    """The call in progress at ``now_ms``, if any (stale calls count as over)."""
    call = journey.call
    if call is None or now_ms - call.last_ms > LIVE_CALL_TIMEOUT_MS:
        return None
    return call


def in_live_call(journey: Journey, now_ms: int) -> bool:
    """Is the subscriber still in an IVR call (menu, queue or with an agent) at ``now_ms``?"""
    return live_call(journey, now_ms) is not None


def in_agent_queue(journey: Journey, now_ms: int) -> bool:
    """Is the subscriber waiting in the agent queue at ``now_ms``?"""
    call = live_call(journey, now_ms)
    return call is not None and call.in_queue


def agent_contacts_since(journey: Journey, since_ms: int) -> int:
    """How many requests an agent handled for the subscriber at or after ``since_ms``."""
    return sum(1 for t in journey.agent_contacts_ms if t >= since_ms)


def apply(journey: Journey, event: Envelope) -> Journey:
    """The journey after ``event``; events without an MSISDN leave it as it was."""
    if event.msisdn is None:
        return journey
    now = to_ms(event.occurred_at)
    channels = journey.channel_last_ms
    if channels.get(event.channel, -1) < now:
        channels = _pruned({**channels, event.channel: now}, now)
    functions, contacts = journey.function_last_ms, journey.agent_contacts_ms
    call, sms = journey.call, journey.sms
    used = function_used(event)
    if used is not None:
        functions = _remember(functions, used, now)
    if isinstance(event, AgentRequestHandled):
        contacts = (*(t for t in contacts if now - t <= KEEP_MS), now)[-MAX_AGENT_CONTACTS:]
    if event.channel == "ivr":
        call = _next_call(call, event, now)
    elif event.channel == "sms":
        sms = _next_dialogue(sms, event)
    return Journey(
        channel_last_ms=channels,
        function_last_ms=functions,
        agent_contacts_ms=contacts,
        call=call,
        sms=sms,
    )


def _pruned(last_ms: dict[str, int], now: int) -> dict[str, int]:
    return {key: t for key, t in last_ms.items() if now - t <= KEEP_MS}


def _remember(functions: dict[str, int], key: str, now: int) -> dict[str, int]:
    """Record a use of ``key``, keeping only the newest :data:`MAX_FUNCTIONS` recent ones."""
    kept = _pruned({k: t for k, t in functions.items() if k != key}, now)
    if len(kept) >= MAX_FUNCTIONS:
        newest = sorted(kept.items(), key=lambda kv: kv[1])[-(MAX_FUNCTIONS - 1) :]
        kept = dict(newest)
    kept[key] = now
    return kept


def function_used(event: Envelope) -> str | None:
    """``<channel>:<function>`` when the event is a successful self-service use."""
    if isinstance(event, WebFunctionUsed | WapFunctionUsed):
        return f"{event.channel}:{event.attributes.function}"
    if isinstance(event, IvrSelfServiceCompleted) and event.attributes.success:
        return f"ivr:{event.attributes.item}"
    if (
        isinstance(event, SmsServiceCompletedEvent | KioskServiceCompletedEvent)
        and event.attributes.success
    ):
        return f"{event.channel}:{event.attributes.service}"
    return None


def _next_call(call: Call | None, event: Envelope, now: int) -> Call | None:
    """The IVR call's lifecycle: started → menu → queue → agent or abandoned → ended."""
    if isinstance(event, IvrCallStarted):
        return Call(
            session_id=event.session_id, last_ms=now, busy_period=event.attributes.busy_period
        )
    if call is None or call.session_id != event.session_id:
        return call  # a late event of an earlier call, or a call whose start we never saw
    if isinstance(event, IvrCallEnded):
        return None
    changes: dict[str, object] = {"last_ms": max(call.last_ms, now)}
    if isinstance(event, IvrMenuSelected):
        changes["item"] = event.attributes.item
    elif isinstance(event, IvrAgentRequested) and event.attributes.topic != UNKNOWN_ITEM:
        changes["item"] = event.attributes.topic
    elif isinstance(event, IvrQueueEntered):
        changes.update(in_queue=True, busy_period=event.attributes.busy_period)
    elif isinstance(event, IvrAgentAnswered):
        changes.update(in_queue=False, with_agent=True)
    elif isinstance(event, IvrAbandoned):
        changes["in_queue"] = False
    return msgspec.structs.replace(call, **changes)


def _next_dialogue(sms: SmsDialogue | None, event: Envelope) -> SmsDialogue | None:
    """Track the latest dialogue and whether a successful result reply is due next."""
    if sms is None or sms.session_id != event.session_id:
        sms = SmsDialogue(session_id=event.session_id)
    if isinstance(event, SmsServiceCompletedEvent):
        return SmsDialogue(
            session_id=sms.session_id,
            service=event.attributes.service,
            result_reply_due=event.attributes.success,
        )
    if isinstance(event, SmsReplySent) and sms.result_reply_due:
        return msgspec.structs.replace(sms, result_reply_due=False)
    return sms
