"""What the nudge stage keeps per partition, and how little of it per subscriber.

A province has millions of subscribers active in a month, so a subscriber's state is kept as
its MessagePack encoding (:class:`SubscriberStore`): a few hundred bytes instead of the tree
of Python objects it decodes to, and the same bytes are the subscriber's changelog record, so
a state is encoded once per batch and never again for the changelog. Only the subscribers a
batch touches are decoded, and they stay decoded until the batch's changelog is written
(:meth:`SubscriberStore.flush`).

The structs stored here are ``array_like`` (no field names in the encoding) and the event ids
remembered for deduplication are 64-bit digests, which is most of the saving; the fields a
later version adds must go last, with defaults, to read older records.

Opt-outs are kept apart as well (:class:`PartitionNudges.opt_outs`): a subscriber's state is
evicted once no window could use it, but "never send to me again" is for good, so it has its
own changelog records that eviction never touches.
"""

import heapq
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from kernel.clock import EPOCH
from orchestration.call_summaries import Calls
from orchestration.contacts import Session
from orchestration.conversions import OpenGoal, closes_on_deadline
from orchestration.guardrails import SubscriberState, TokenBucket
from orchestration.guardrails.budget import BudgetState
from orchestration.journey import Journey
from orchestration.sms_dialogues import Dialogues
from schemas.envelope import Brand, Prefecture
from schemas.guardrails import GuardrailSettings
from schemas.nudges import NudgeRequest


def due_ms(until: datetime) -> int:
    """The first whole millisecond at or after ``until``: a request re-decided at the
    watermark must never be asked before its time (it would be held again, for ever)."""
    return -((EPOCH - until) // timedelta(milliseconds=1))


class Held(msgspec.Struct, frozen=True, kw_only=True):
    """A request the guardrails said "not now" to, and when to ask again.

    ``guardrails`` is set for campaign requests, whose settings come with the request rather
    than from a rule file.
    """

    request: NudgeRequest
    until: datetime
    guardrails: GuardrailSettings | None = None


class SubscriberNudges(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """Everything the stage keeps about one subscriber: one changelog record."""

    journey: Journey = msgspec.field(default_factory=Journey)
    guardrails: SubscriberState = msgspec.field(default_factory=SubscriberState)
    held: tuple[Held, ...] = ()
    #: Digests (:func:`~orchestration.guardrails.state.id_digest`) of the subscriber's latest
    #: event ids, newest last.
    recent: tuple[int, ...] = ()
    newest_ms: int = 0
    #: Exposures (sent or held out) whose goal is still open: attribution's memory.
    goals: tuple[OpenGoal, ...] = ()
    #: Where the subscriber's latest event came from: what a campaign SMS is addressed with.
    prefecture: Prefecture | None = None
    brand: Brand | None = None
    #: The sessions the contact counts still need (:mod:`orchestration.contacts`).
    contacts: tuple[Session, ...] = ()
    #: The call in progress and the self-service calls whose containment window is open
    #: (:mod:`orchestration.call_summaries`); None, one byte, for a subscriber with neither.
    calls: Calls | None = None
    #: The SMS confirmation dialogues still open (:mod:`orchestration.sms_dialogues`); empty,
    #: one byte, for a subscriber with none.
    dialogues: Dialogues = ()


_NIL, _EMPTY_ARRAY = b"\xc0", b"\x90"  # MessagePack's None and empty array


class _Pending(msgspec.Struct, frozen=True, array_like=True):
    """The leading fields of :class:`SubscriberNudges` up to ``goals``, the others left raw:
    enough to index a restored state's held requests and open goals without building its
    journey (extra trailing fields are ignored)."""

    journey: msgspec.Raw
    guardrails: msgspec.Raw
    held: tuple[Held, ...]
    recent: msgspec.Raw
    newest_ms: msgspec.Raw
    goals: tuple[OpenGoal, ...] = ()


class _Idle(msgspec.Struct, frozen=True, array_like=True):
    """The fields of :class:`SubscriberNudges` the sweep looks at, the rest left raw."""

    journey: msgspec.Raw
    guardrails: msgspec.Raw
    held: msgspec.Raw
    recent: msgspec.Raw
    newest_ms: int = 0
    goals: msgspec.Raw = msgspec.Raw(_EMPTY_ARRAY)
    prefecture: msgspec.Raw = msgspec.Raw(_NIL)
    brand: msgspec.Raw = msgspec.Raw(_NIL)
    contacts: msgspec.Raw = msgspec.Raw(_EMPTY_ARRAY)
    calls: msgspec.Raw = msgspec.Raw(_NIL)
    dialogues: msgspec.Raw = msgspec.Raw(_EMPTY_ARRAY)


@dataclass
class Swept:
    """What one step of the sweep found (:meth:`SubscriberStore.sweep`)."""

    #: States no window can use any more: to evict.
    idle: list[str] = field(default_factory=list)
    #: States silent for the calls' timeout that hold calls (:mod:`orchestration.call_summaries`):
    #: a call there may be over, a containment window passed.
    calls: list[str] = field(default_factory=list)
    #: States silent for the dialogues' follow window that hold open SMS dialogues
    #: (:mod:`orchestration.sms_dialogues`): a dialogue there is over.
    dialogues: list[str] = field(default_factory=list)


_encode = msgspec.msgpack.Encoder().encode
_decode_state = msgspec.msgpack.Decoder(SubscriberNudges).decode
_decode_pending = msgspec.msgpack.Decoder(_Pending).decode
_decode_idle = msgspec.msgpack.Decoder(_Idle).decode
OptOuts = dict[str, int]
_decode_opt_outs = msgspec.msgpack.Decoder(OptOuts).decode


def encode_state(state: SubscriberNudges) -> bytes:
    return _encode(state)


def encode_opt_outs(opt_outs: OptOuts) -> bytes:
    return _encode(opt_outs)


def decode_opt_outs(value: bytes) -> OptOuts:
    return _decode_opt_outs(value)


class SubscriberStore(MutableMapping[str, SubscriberNudges]):
    """MSISDN → :class:`SubscriberNudges`, held encoded, with the batch's changes decoded.

    Reads decode (or return the batch's own copy); writes and evictions stay decoded in
    :attr:`changed` until :meth:`flush` encodes them, once, into the store and the changelog.
    """

    __slots__ = ("_sweep", "_swept_at", "changed", "encoded", "generation")

    def __init__(self, encoded: dict[str, bytes] | None = None) -> None:
        self.encoded: dict[str, bytes] = encoded if encoded is not None else {}
        #: Written (a state) or evicted (None) since the last :meth:`flush`.
        self.changed: dict[str, SubscriberNudges | None] = {}
        #: Counts subscribers added and evicted: the pseudonym index is rebuilt when it moves.
        self.generation = 0
        self._sweep: list[str] = []
        self._swept_at = 0

    def get(self, msisdn: str) -> SubscriberNudges | None:  # type: ignore[override]
        if msisdn in self.changed:
            return self.changed[msisdn]
        raw = self.encoded.get(msisdn)
        return None if raw is None else _decode_state(raw)

    def __getitem__(self, msisdn: str) -> SubscriberNudges:
        state = self.get(msisdn)
        if state is None:
            raise KeyError(msisdn)
        return state

    def __setitem__(self, msisdn: str, state: SubscriberNudges) -> None:
        if self.changed.get(msisdn, self.encoded.get(msisdn)) is None:
            self.generation += 1
        self.changed[msisdn] = state

    def __delitem__(self, msisdn: str) -> None:
        """Evict: the next :meth:`flush` drops the state and writes its tombstone."""
        if msisdn not in self:
            raise KeyError(msisdn)
        self.changed[msisdn] = None
        self.generation += 1

    def __contains__(self, msisdn: object) -> bool:
        if msisdn in self.changed:
            return self.changed[msisdn] is not None  # type: ignore[index]
        return msisdn in self.encoded

    def __iter__(self) -> Iterator[str]:
        for msisdn in self.encoded:
            if self.changed.get(msisdn, True) is not None:
                yield msisdn
        for msisdn, state in self.changed.items():
            if state is not None and msisdn not in self.encoded:
                yield msisdn

    def __len__(self) -> int:
        return sum(1 for _ in self) if self.changed else len(self.encoded)

    def flush(self) -> list[tuple[bytes, bytes | None]]:
        """Encode the batch's changes into the store; return them as changelog records
        (MSISDN key, encoded state or None for an eviction), in MSISDN order."""
        records: list[tuple[bytes, bytes | None]] = []
        for msisdn in sorted(self.changed):
            state = self.changed[msisdn]
            if state is None:
                self.encoded.pop(msisdn, None)
                records.append((msisdn.encode(), None))
            else:
                value = self.encoded[msisdn] = _encode(state)
                records.append((msisdn.encode(), value))
        self.changed.clear()
        return records

    def sweep(
        self, now_ms: int, idle_ms: int, calls_ms: int, dialogues_ms: int, limit: int,
        every_ms: int,
    ) -> Swept:  # fmt: skip
        """The next step of the sweep: up to ``limit`` more states looked at, of which those
        whose newest event is over ``idle_ms`` before ``now_ms`` with nothing held and no goal
        open are idle, and those over ``calls_ms`` before it that hold calls (over
        ``dialogues_ms``, that hold open SMS dialogues) are listed to be closed. A sweep walks
        every stored state once (reading only those fields), a few thousand per call; the next
        one starts ``every_ms`` of event time after the last began."""
        if not self._sweep:
            if now_ms - self._swept_at < every_ms:
                return Swept()
            self._sweep, self._swept_at = list(self.encoded), now_ms
        chunk, self._sweep = self._sweep[-limit:], self._sweep[:-limit]
        found = Swept()
        for msisdn in chunk:
            raw = self.encoded.get(msisdn)
            if raw is None or msisdn in self.changed:
                continue  # evicted since, or written this batch (so not idle)
            state = _decode_idle(raw)
            if state.newest_ms < now_ms - calls_ms and bytes(state.calls) != _NIL:
                found.calls.append(msisdn)
            if state.newest_ms < now_ms - dialogues_ms and bytes(state.dialogues) != _EMPTY_ARRAY:
                found.dialogues.append(msisdn)
            if (
                state.newest_ms < now_ms - idle_ms
                and bytes(state.held) == _EMPTY_ARRAY
                and bytes(state.goals) == _EMPTY_ARRAY
            ):
                found.idle.append(msisdn)
        return found


@dataclass
class PartitionNudges:
    """The in-memory state of one partition; ``next_offset`` is the first event not yet in it."""

    subscribers: SubscriberStore = field(default_factory=SubscriberStore)
    #: MSISDN → scope → epoch seconds: every opt-out ever recorded here, never evicted.
    opt_outs: dict[str, OptOuts] = field(default_factory=dict)
    #: Opt-outs recorded since the last changelog write.
    opt_outs_changed: set[str] = field(default_factory=set)
    watermark_ms: int = 0
    gateway: TokenBucket = field(default_factory=TokenBucket)
    #: The last send slot handed to a rate-limited request (see :meth:`NudgeCore._queue`).
    rate_queue: datetime = EPOCH
    next_offset: int = 0
    #: (until ms, nudge id, msisdn) of every held request, earliest first; requests due at
    #: the same instant in nudge id order, which a back-test over stored events can know.
    due: list[tuple[int, str, str]] = field(default_factory=list)
    #: (deadline ms, msisdn, nudge id) of every goal that converts when its window closes.
    goal_due: list[tuple[int, str, str]] = field(default_factory=list)
    #: Campaign id → what this partition's share of its budget has spent.
    budgets: dict[str, BudgetState] = field(default_factory=dict)
    #: Pseudonym → MSISDN of the subscribers, built when a campaign asks for it.
    pseudonyms: dict[str, str] = field(default_factory=dict)
    #: The :attr:`SubscriberStore.generation` the pseudonym index was built at.
    pseudonyms_generation: int = -1

    def index_held(self) -> int:
        """Rebuild :attr:`due` and :attr:`goal_due` from the subscribers (after a restore).
        A stored state that does not decode (a changelog another version wrote) is dropped:
        returns how many were."""
        self.due, self.goal_due = [], []
        store = self.subscribers
        unreadable = []
        for msisdn, raw in store.encoded.items():
            if msisdn in store.changed:
                continue
            try:
                self._index(msisdn, _decode_pending(raw))
            except msgspec.DecodeError:
                unreadable.append(msisdn)
        for msisdn, sub in store.changed.items():
            if sub is not None:
                self._index(msisdn, sub)
        for msisdn in unreadable:
            del store.encoded[msisdn]
        heapq.heapify(self.due)
        heapq.heapify(self.goal_due)
        return len(unreadable)

    def _index(self, msisdn: str, sub: "SubscriberNudges | _Pending") -> None:
        for h in sub.held:
            self.due.append((due_ms(h.until), h.request.nudge_id, msisdn))
        for g in sub.goals:
            if closes_on_deadline(g):
                self.goal_due.append((g.deadline_ms, msisdn, g.nudge_id))

    def new_subscriber(self, msisdn: str) -> SubscriberNudges:
        """The state of a subscriber the partition holds nothing for (new, or evicted): empty
        but for the opt-outs, which outlive eviction."""
        opt_outs = self.opt_outs.get(msisdn)
        if opt_outs is None:
            return SubscriberNudges()
        return SubscriberNudges(guardrails=SubscriberState(opt_outs=dict(opt_outs)))
