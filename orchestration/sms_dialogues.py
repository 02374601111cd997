"""SMS confirmation dialogues summarised once, when they are over: what the SMS hall's
confirmation panel reads at a province's volume instead of merging every dialogue's states at
query time (millions of groups a day).

The nudge stage follows each subscriber's SMS dialogues (sessions) that asked for a charge
confirmation and, when one is over, turns it into one
:class:`~schemas.dialogues.DialogueSummarised`: the time and command of its first
``sms.confirmation_requested``, its first ``sms.confirmation_replied`` (yes, no or timeout),
and whether an ``sms.service_completed`` followed (the service ran) and said it worked. These
are the panel's definitions of a dialogue (:mod:`dashboards.queries.sms_hall`). A dialogue is
over at its ``sms.service_completed``, at a "no" or "timeout" reply (nothing follows those in
the hall), when it has had no event for :data:`~schemas.dialogues.DIALOGUE_FOLLOW_MS` (found
at the subscriber's next event, or by the stage's sweep), or when more than :data:`MAX_LIVE`
dialogues of the subscriber are open (the oldest).

Where this differs from grouping the stored events by dialogue (the definitions the fill in
:mod:`sinks.tables.sms_dialogues` still applies to the events stored before the stage
summarised dialogues): a dialogue still open is not counted until it is over; a dialogue's
events before its first prompt, after it is over (a prompt then starts another dialogue), or
more than :data:`~streams.nudge_core.LATE_MS` behind the subscriber's newest event, are not in
its summary; and of several replies the first is kept (the grouping kept any one).

:func:`step` and :func:`close` are pure; the nudge stage keeps each subscriber's open
dialogues in its changelogged state: an empty tuple, one byte, for a subscriber with none, and
about 30 bytes per dialogue for the minute or two one lasts.
"""

import msgspec

from kernel.clock import from_ms
from orchestration.guardrails.state import id_digest
from schemas import Event
from schemas.dialogues import DIALOGUE_FOLLOW_MS, DialogueSummarised
from schemas.events import (
    SmsConfirmationReplied,
    SmsConfirmationRequested,
    SmsServiceCompletedEvent,
)

#: Dialogues of one subscriber followed at once: a second one usually means the first was
#: left unanswered.
MAX_LIVE = 3
#: A reply as kept in the state (0: none yet), and back.
REPLIES = ("yes", "no", "timeout")
#: Replies after which the hall sends nothing more in the dialogue.
_FINAL_REPLIES = (2, 3)

_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


class Dialogue(msgspec.Struct, frozen=True, array_like=True):
    """An open dialogue, as its summary needs it."""

    key: int  # the high 32 bits of the session id's id_digest
    prompted_ms: int  # its first sms.confirmation_requested
    span_ms: int  # from the prompt to its latest event, for the follow window
    code: str
    reply: int = 0  # 1 + REPLIES index of its first reply, 0 for none
    ran: bool = False
    worked: bool = False

    @property
    def last_ms(self) -> int:
        return self.prompted_ms + self.span_ms


#: One subscriber's open dialogues, oldest first; empty (one byte) for most subscribers.
Dialogues = tuple[Dialogue, ...]


def dialogue_id(msisdn: str, key: int, prompted_ms: int) -> str:
    """Unique per dialogue (the subscriber, the session's key, its first prompt), and the same
    when a replay summarises it again. Letters only: no run of digits in it can look like a
    phone number to the scrubber."""
    digest = id_digest(f"{msisdn}\x1f{key}\x1f{prompted_ms}")
    return f"{f'{digest:016x}'.translate(_LETTERS)}-dialogue"


def step(
    dialogues: Dialogues, msisdn: str, event: Event, at_ms: int, *, late: bool
) -> tuple[Dialogues, list[DialogueSummarised]]:
    """The open dialogues after ``event`` (at ``at_ms``) and the summaries it completes.
    ``late`` events (far behind the subscriber's newest) are no part of a dialogue."""
    ours = event.channel == "sms"
    prompt = ours and isinstance(event, SmsConfirmationRequested)
    if late or (not dialogues and not prompt):
        return dialogues, []  # most events: no dialogue open
    done: list[DialogueSummarised] = []
    live = _timed_out(dialogues, msisdn, at_ms, done)
    key = id_digest(event.session_id) >> 32
    own = next((d for d in live if d.key == key), None) if ours else None
    if isinstance(event, SmsConfirmationRequested) and prompt and own is None:
        live = (*live, Dialogue(key, at_ms, 0, event.attributes.code))
        if len(live) > MAX_LIVE:
            done.append(_summary(live[0], msisdn))
            live = live[1:]
    elif own is not None:
        followed = _followed(own, event, at_ms)
        if _over(followed, event):
            done.append(_summary(followed, msisdn))
            live = tuple(d for d in live if d is not own)
        else:
            live = tuple(followed if d is own else d for d in live)
    return (dialogues if not done and live == dialogues else live), done


def close(
    dialogues: Dialogues, msisdn: str, now_ms: int
) -> tuple[Dialogues, list[DialogueSummarised]]:
    """The open dialogues once the stream is at ``now_ms`` with no event of the subscriber
    since its last: a dialogue silent for the follow window is over (the sweep's share of
    :func:`step`)."""
    done: list[DialogueSummarised] = []
    return _timed_out(dialogues, msisdn, now_ms, done), done


def _timed_out(
    live: Dialogues, msisdn: str, now_ms: int, done: list[DialogueSummarised]
) -> Dialogues:
    """The dialogues still open at ``now_ms``; those silent for the follow window are over,
    with their summaries in ``done``."""
    over = [d for d in live if now_ms - d.last_ms > DIALOGUE_FOLLOW_MS]
    if not over:
        return live
    done += [_summary(d, msisdn) for d in over]
    return tuple(d for d in live if now_ms - d.last_ms <= DIALOGUE_FOLLOW_MS)


def _followed(own: Dialogue, event: Event, at_ms: int) -> Dialogue:
    """The open dialogue after another event of its session."""
    changes: dict[str, object] = {}
    if at_ms < own.prompted_ms and isinstance(event, SmsConfirmationRequested):
        # An earlier prompt, out of order: the first prompt is the dialogue's time and code.
        changes.update(
            prompted_ms=at_ms,
            span_ms=own.span_ms + own.prompted_ms - at_ms,
            code=event.attributes.code,
        )
    elif at_ms - own.prompted_ms > own.span_ms:
        changes["span_ms"] = at_ms - own.prompted_ms
    if isinstance(event, SmsConfirmationReplied) and not own.reply:
        changes["reply"] = REPLIES.index(event.attributes.reply) + 1
    elif isinstance(event, SmsServiceCompletedEvent):
        changes.update(ran=True, worked=own.worked or event.attributes.success)
    return msgspec.structs.replace(own, **changes) if changes else own


def _over(dialogue: Dialogue, event: Event) -> bool:
    """Whether ``event`` ends the dialogue: the service completed, or a reply after which the
    hall sends nothing more."""
    if isinstance(event, SmsServiceCompletedEvent):
        return True
    return isinstance(event, SmsConfirmationReplied) and dialogue.reply in _FINAL_REPLIES


def _summary(dialogue: Dialogue, msisdn: str) -> DialogueSummarised:
    return DialogueSummarised(
        dialogue_id=dialogue_id(msisdn, dialogue.key, dialogue.prompted_ms),
        msisdn=msisdn,
        prompted_at=from_ms(dialogue.prompted_ms),
        code=dialogue.code,
        reply=REPLIES[dialogue.reply - 1] if dialogue.reply else None,  # type: ignore[arg-type]
        ran=dialogue.ran,
        worked=dialogue.worked,
    )
