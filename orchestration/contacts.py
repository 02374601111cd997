"""Contacts counted once, as they begin: what the cross-channel page reads at a province's
volume instead of grouping a day of events by session.

A *contact* is a session (a call, an SMS dialogue, a web visit, a kiosk session) of a
subscriber. Agents work inside the IVR call they answer, so an agent's handling shares the
call's session id. Two counts follow, and :func:`step` finds both from one subscriber's
sessions in the order its events arrive:

- **opened**: each (channel, session) pair, the first time an event of it arrives. This is the
  contact mix, where an agent's handling is an agent contact of its own.
- **re-contacted**: a session is one contact here (the agent part of its call), of the channel
  of its first event. It is re-contacted when another session of the same subscriber begins
  after it and at most
  :data:`~schemas.contacts.RECONTACT_WINDOW_MS` later. Sessions are matched in both
  directions, so a session whose events arrive after a later one's still counts as followed.

The times are those of the first event the stage receives of a pair or session. A session
that has had no event for :data:`SESSION_IDLE_MS` is forgotten unless the re-contact count
still needs it: an event of it after that opens a new contact. Both are rare edges of the
grouping the queries used to do over the stored events (the earliest event of a session in
the range), which the fill in :mod:`sinks.tables.contacts` still does for the events stored
before the stage counted contacts.

:func:`step` is pure; the nudge stage (:mod:`streams.nudge_core`) keeps each subscriber's
:class:`Session` tuple in its changelogged state, so it must stay small: a few integers per
session, and only the sessions that can still change a count.
"""

from dataclasses import dataclass
from typing import Literal, cast

import msgspec

from orchestration.guardrails.state import id_digest
from schemas.contacts import RECONTACT_WINDOW_MS
from schemas.envelope import CHANNELS, Channel

#: A session with no event for this long is over (as an IVR call with no event for this long
#: is, :data:`orchestration.journey.LIVE_CALL_TIMEOUT_MS`).
SESSION_IDLE_MS = 2 * 3_600_000
#: At most this many sessions per subscriber are remembered, the most recently active ones.
MAX_SESSIONS = 8

_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")
_CHANNEL_BIT = {channel: 1 << i for i, channel in enumerate(CHANNELS)}


class Session(msgspec.Struct, frozen=True, array_like=True):
    """One recent session of a subscriber, as the counts need it: about 20 bytes encoded."""

    key: int  # the high 32 bits of the session id's id_digest: unique among a few sessions
    first_ms: int  # its first event the stage received
    span_s: int  # whole seconds from that event to its latest, for SESSION_IDLE_MS
    channels: int  # bit per channel (CHANNELS order) with an opened contact in the session
    first_channel: int  # CHANNELS index of its first event
    recontacted: bool = False

    @property
    def last_ms(self) -> int:
        return self.first_ms + self.span_s * 1000


@dataclass(frozen=True)
class Counted:
    """One count :func:`step` adds: a contact opened, or a session found re-contacted."""

    kind: Literal["opened", "recontacted"]
    session: Session  # the session it belongs to, as it was when counted
    channel: Channel  # opened: the pair's channel; recontacted: the session's first channel
    first_ms: int  # the pair's or the session's first event
    #: opened only: the pair is the session's first, the contact re-contact counts.
    opens_session: bool = False

    def contact_id(self, msisdn: str) -> str:
        """Unique per count (the subscriber, the session's key and first millisecond, and what
        is counted) and the same when a replay counts it again, so the sink keeps one row.
        Letters only: no run of digits in it can look like a phone number to the scrubber."""
        what = self.channel if self.kind == "opened" else "recontacted"
        digest = id_digest(f"{msisdn}\x1f{self.session.key}\x1f{self.session.first_ms}")
        return f"{f'{digest:016x}'.translate(_LETTERS)}-{what}"


def step(
    sessions: tuple[Session, ...], session_id: str, channel: Channel, at_ms: int
) -> tuple[tuple[Session, ...], list[Counted]]:
    """The sessions after an event of ``session_id`` on ``channel`` at ``at_ms``, and what it
    adds to the counts (nothing, for most events: those of a pair already opened)."""
    key = id_digest(session_id) >> 32
    bit = _CHANNEL_BIT[channel]
    counted: list[Counted] = []
    found = next((s for s in sessions if s.key == key), None)
    if found is not None:
        last_ms = max(found.last_ms, at_ms)
        changed = msgspec.structs.replace(
            found, span_s=(last_ms - found.first_ms) // 1000, channels=found.channels | bit
        )
        if not found.channels & bit:
            counted.append(Counted("opened", found, channel, at_ms))
        kept = tuple(changed if s is found else s for s in sessions)
        return _pruned(kept), counted
    kept_list: list[Session] = []
    followed = False
    for s in sessions:
        if not s.recontacted and s.first_ms < at_ms <= s.first_ms + RECONTACT_WINDOW_MS:
            first_channel = cast(Channel, CHANNELS[s.first_channel])
            counted.append(Counted("recontacted", s, first_channel, s.first_ms))
            s = msgspec.structs.replace(s, recontacted=True)
        followed = followed or at_ms < s.first_ms <= at_ms + RECONTACT_WINDOW_MS
        kept_list.append(s)
    new = Session(key, at_ms, 0, bit, CHANNELS.index(channel), followed)
    counted.insert(0, Counted("opened", new, channel, at_ms, opens_session=True))
    if followed:
        counted.append(Counted("recontacted", new, channel, at_ms))
    kept_list.append(new)
    return _pruned(tuple(kept_list)), counted


def _pruned(sessions: tuple[Session, ...]) -> tuple[Session, ...]:
    """The sessions a later event can still count differently for.

    A session is kept while it may have more events (active within :data:`SESSION_IDLE_MS`),
    while it may yet be re-contacted (not re-contacted, begun within the window), and the
    newest one always (a session that arrives late may begin before it).
    """
    now = max(s.last_ms for s in sessions)
    newest = max(sessions, key=lambda s: s.first_ms)
    kept = [
        s
        for s in sessions
        if s is newest
        or now - s.last_ms <= SESSION_IDLE_MS
        or (not s.recontacted and now - s.first_ms <= RECONTACT_WINDOW_MS)
    ]
    if len(kept) > MAX_SESSIONS:
        kept = sorted(kept, key=lambda s: s.last_ms)[-MAX_SESSIONS:]
    return tuple(kept)
