"""The live catalogue and every request's workflow, folded from ``channel.catalogue``.

:meth:`Catalogue.apply` takes one record and either accepts it (the catalogue or a workflow
changes) or refuses it with a :class:`Refusal` that says what is wrong and how to fix it;
:func:`fold` applies a sequence in order. Pure: no clock, no I/O. Every reader (the CLI before
it writes, a stage, a rebuild from ClickHouse) replays the same records in the same order and
gets the same catalogue, the same workflows and the same refusals. A refused record stays on
the topic, and in the request's trail, as what it is: an attempt the rules did not allow.

Order of checks (first match wins):

1. ``duplicate``: the record's id was already applied (a redelivery, a second seeding);
   ignored, and not listed as a refusal.
2. ``reserved_actor``: a request or a step by ``seed``, or a seeded entry by anyone else.
   Seeding is the one way in without a workflow, so it is only today's catalogue.
3. For a request to open, ``conflicting_entries``: two of its entries on one slot, or one
   keyword for two codes.
4. For a step: ``unknown_request``, ``wrong_service`` (the request is for another service),
   ``finished`` (the request is opened or retired already), ``out_of_order`` (not the step
   after the last one taken), ``wrong_role`` (not the role the step is taken in), and
   ``own_request``: a review (:data:`~orchestration.catalogue.workflows.REVIEWS`) by whoever
   requested or submitted the request. Four eyes.
5. What the change does to the live catalogue, for a seeded entry, a request, and again at the
   last step (the catalogue may have changed meanwhile): ``already_open`` (the service has
   that entry), ``slot_taken`` (its IVR keys lead to another service), ``keyword_taken`` (its
   SMS keyword leads to another code), and for a retirement ``not_open`` (nothing of the
   service is open on the chosen channels).

Why this order: a record that cannot be told apart from one already applied says nothing; a
step is judged against its workflow before the catalogue, so a step out of turn is refused as
out of turn whatever the catalogue holds; and a change is checked against the catalogue both
when it is asked for, so no one reviews an impossible request, and when it takes effect,
because another request may have taken the slot in between.

Slots: one IVR key path leads to one service, and one SMS keyword to one code. Everything else
may be shared: one web page, kiosk function or SMS code may serve several services (the SP
unsubscription page serves every SP service).
"""

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import msgspec

from orchestration.catalogue.workflows import (
    REQUESTED,
    REVIEWS,
    STEPS,
    Process,
    role_for,
)
from schemas.catalogue import (
    CATALOGUE_CHANNELS,
    SEED,
    CatalogueChannel,
    CatalogueEvent,
    Entry,
    IvrItem,
    OpenRequested,
    Request,
    RetireRequested,
    ServiceSeeded,
    SmsHallCode,
    Step,
    StepTaken,
    channel_of,
)

RefusalCode = Literal[
    "duplicate", "reserved_actor", "conflicting_entries", "unknown_request", "wrong_service",
    "finished", "out_of_order", "wrong_role", "own_request", "already_open", "slot_taken",
    "keyword_taken", "not_open",
]  # fmt: skip

#: Where an entry sits: its channel and its slot there (keys, code or function).
Slot = tuple[CatalogueChannel, str]


class Retired(msgspec.Struct, frozen=True, kw_only=True):
    """An entry a retirement closed that no service has open again: what customers who still
    ask for it there no longer get (``service`` retired it ``at``)."""

    entry: Entry
    service: str
    at: datetime

    @property
    def channel(self) -> CatalogueChannel:
        return channel_of(self.entry)

    @property
    def slot(self) -> str:
        return self.entry.slot


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """Why a record was not accepted; ``message`` says what to do instead."""

    event_id: str
    code: RefusalCode
    message: str


#: ``refuse(code, message)``: the refusal of the record being judged.
_Refuse = Callable[[RefusalCode, str], Refusal]


def slot_of(entry: Entry) -> Slot:
    return channel_of(entry), entry.slot


def _keyword(word: str) -> str:
    """How the hall compares keywords: latin ones in any case."""
    return word.casefold()


@dataclass
class Workflow:
    """One request and the steps accepted for it so far."""

    request: Request
    steps: list[StepTaken] = field(default_factory=list)
    #: Every record about the request, in order, with its refusal (None: accepted).
    trail: list[tuple[CatalogueEvent, Refusal | None]] = field(default_factory=list)

    @property
    def process(self) -> Process:
        return "open" if isinstance(self.request, OpenRequested) else "retire"

    @property
    def last_step(self) -> str:
        return self.steps[-1].step if self.steps else REQUESTED[self.process]

    @property
    def next_step(self) -> tuple[Step, str] | None:
        """The step to take next and its role; None once the request is carried out."""
        remaining = STEPS[self.process][len(self.steps) :]
        return remaining[0] if remaining else None

    @property
    def finished(self) -> bool:
        return self.next_step is None

    @property
    def parties(self) -> frozenset[str]:
        """Who asked for the change: the requester, and for a retirement who submitted it."""
        submitted = {s.who for s in self.steps if s.step == "submitted"}
        return frozenset({self.request.who, *submitted})


class Catalogue:
    """The live catalogue (which entries are open, for which services) and every workflow."""

    def __init__(self) -> None:
        self._open: dict[str, dict[Slot, Entry]] = {}
        self._ivr: dict[str, str] = {}  # key path → service
        self._keywords: dict[str, str] = {}  # keyword (compared form) → code
        self._retired: dict[Slot, Retired] = {}
        self._seen: set[str] = set()
        self.workflows: dict[str, Workflow] = {}
        #: Every refusal but duplicates, in order.
        self.refusals: list[Refusal] = []
        #: How many records changed the catalogue or a workflow: its version.
        self.version = 0
        #: Whether a seeded entry was accepted: the catalogue started from today's.
        self.seeded = False
        #: Each time the retired SMS codes changed, and the codes retired from then on, in
        #: topic order: what :meth:`retired_codes_in` reads for a past moment.
        self._sms_retirements: list[tuple[datetime, frozenset[str]]] = []

    # -- reading -------------------------------------------------------------------------------

    def services(self) -> list[str]:
        """Every service with at least one open entry, by name."""
        return sorted(s for s, entries in self._open.items() if entries)

    def entries(self, service: str) -> list[Entry]:
        """The open entries of ``service``, by channel and slot."""
        found = self._open.get(service, {})
        return [found[slot] for slot in sorted(found, key=_slot_order)]

    def channel(self, channel: CatalogueChannel) -> dict[str, list[tuple[str, Entry]]]:
        """What ``channel`` offers now: slot → the services open there with their entries."""
        offered: dict[str, list[tuple[str, Entry]]] = {}
        for service in sorted(self._open):
            for (on, slot), entry in self._open[service].items():
                if on == channel:
                    offered.setdefault(slot, []).append((service, entry))
        return dict(sorted(offered.items()))

    def retired(self) -> list[Retired]:
        """Every entry retired and not open again, for any service, by channel and slot."""
        return [self._retired[slot] for slot in sorted(self._retired, key=_slot_order)]

    def retired_codes_in(self, text: str, at: datetime | None = None) -> list[str]:
        """The retired SMS codes ``text`` names as a whole number: what a campaign must no
        longer tell anyone to send. ``at`` asks as of that moment (by the times the records
        carry), so a replay of past traffic judges a text as the catalogue stood then."""
        retired = self._retired_sms() if at is None else self._retired_sms_at(at)
        if not retired:
            return []  # the common case, on every decision: nothing retired
        return sorted({run for run in _NUMBERS.findall(text) if run in retired})

    def _retired_sms(self) -> frozenset[str]:
        return frozenset(r.slot for r in self._retired.values() if r.channel == "sms")

    def _retired_sms_at(self, at: datetime) -> frozenset[str]:
        changes = self._sms_retirements
        found = bisect.bisect_right(changes, at, key=lambda change: change[0])
        return changes[found - 1][1] if found else frozenset()

    def keywords(self) -> dict[str, str]:
        """Every open SMS keyword (compared form: latin in lower case) → its code."""
        return dict(self._keywords)

    def has_applied(self, event_id: str) -> bool:
        return event_id in self._seen

    # -- applying ------------------------------------------------------------------------------

    def apply(self, event: CatalogueEvent) -> Refusal | None:
        """Accept ``event`` (None) or refuse it; see the module docstring for the order."""
        refusal = self.judge(event)
        if refusal is not None and refusal.code == "duplicate":
            return refusal
        self._seen.add(event.event_id)
        workflow = self._workflow_of(event)
        if workflow is not None:
            workflow.trail.append((event, refusal))
        if refusal is not None:
            self.refusals.append(refusal)
            return refusal
        self._accept(event)
        self.version += 1
        self._note_sms_retirements(event.at)
        return None

    def judge(self, event: CatalogueEvent) -> Refusal | None:
        """What :meth:`apply` would decide, changing nothing: how a writer checks a record
        before it produces it."""

        def refuse(code: RefusalCode, message: str) -> Refusal:
            return Refusal(event_id=event.event_id, code=code, message=message)

        if event.event_id in self._seen:
            return refuse("duplicate", f"record {event.event_id} was already applied")
        if (event.who == SEED) != isinstance(event, ServiceSeeded):
            return refuse(
                "reserved_actor",
                f"{SEED!r} only seeds today's catalogue, and only it does; "
                "request and take steps under your own user id",
            )
        if isinstance(event, ServiceSeeded):
            return self._opening(event.service, (event.entry,), refuse)
        if isinstance(event, OpenRequested):
            return self._conflicts_within(event.entries, refuse) or self._opening(
                event.service, event.entries, refuse
            )
        if isinstance(event, RetireRequested):
            return self._retiring(event.service, event.channels, refuse)
        return self._judge_step(event, refuse)

    # -- the rules -----------------------------------------------------------------------------

    def _judge_step(self, step: StepTaken, refuse: _Refuse) -> Refusal | None:
        workflow = self.workflows.get(step.request_id)
        if workflow is None:
            return refuse(
                "unknown_request",
                f"no request {step.request_id}; `channelhub service list` shows the requests "
                "in progress",
            )
        request = workflow.request
        if request.service != step.service:
            return refuse(
                "wrong_service",
                f"request {step.request_id} is for {request.service!r}, not {step.service!r}",
            )
        upcoming = workflow.next_step
        if upcoming is None:
            done = "opened" if workflow.process == "open" else "retired"
            return refuse(
                "finished",
                f"request {step.request_id} is already {done}; a further change needs a new "
                "request",
            )
        wanted, role = upcoming
        if step.step != wanted:
            return refuse(
                "out_of_order",
                f"request {step.request_id} ({workflow.process} {request.service!r}) is at "
                f"{workflow.last_step!r}; its next step is {wanted!r}, taken by a {role}, not "
                f"{step.step!r}",
            )
        if step.role != role_for(workflow.process, step.step):
            return refuse(
                "wrong_role", f"step {step.step!r} is taken as {role}, not as {step.role}"
            )
        if step.step in REVIEWS and step.who in workflow.parties:
            return refuse(
                "own_request",
                f"{step.who} asked for request {step.request_id} and cannot review it; "
                f"another {role} must take {step.step!r}",
            )
        if step.step == "opened" and isinstance(request, OpenRequested):
            return self._opening(request.service, request.entries, refuse)
        if step.step == "retired" and isinstance(request, RetireRequested):
            return self._retiring(request.service, request.channels, refuse)
        return None

    def _conflicts_within(self, entries: Iterable[Entry], refuse: _Refuse) -> Refusal | None:
        slots: set[Slot] = set()
        codes: dict[str, str] = {}
        for entry in entries:
            slot = slot_of(entry)
            if slot in slots:
                return refuse(
                    "conflicting_entries",
                    f"the request names {slot[0]} {slot[1]} twice; name each entry once",
                )
            slots.add(slot)
            if not isinstance(entry, SmsHallCode):
                continue
            for word in entry.keywords:
                code = codes.setdefault(_keyword(word), entry.code)
                if code != entry.code:
                    return refuse(
                        "conflicting_entries",
                        f"the request gives keyword {word!r} to codes {code} and {entry.code}; "
                        "a keyword leads to one code",
                    )
        return None

    def _opening(self, service: str, entries: Iterable[Entry], refuse: _Refuse) -> Refusal | None:
        open_now = self._open.get(service, {})
        for entry in entries:
            channel, slot = slot_of(entry)
            if (channel, slot) in open_now:
                return refuse(
                    "already_open",
                    f"{service!r} is already open on {channel} {slot}; leave that entry out",
                )
            holder = self._ivr.get(slot) if isinstance(entry, IvrItem) else None
            if holder is not None:
                return refuse(
                    "slot_taken",
                    f"IVR keys {slot} already lead to {holder!r}; choose free keys or retire "
                    f"{holder!r} from the IVR first",
                )
            for word in entry.keywords if isinstance(entry, SmsHallCode) else ():
                code = self._keywords.get(_keyword(word), entry.slot)
                if code != entry.slot:
                    return refuse(
                        "keyword_taken",
                        f"SMS keyword {word!r} already leads to code {code}; drop the keyword "
                        f"or retire code {code} first",
                    )
        return None

    def _retiring(
        self, service: str, channels: tuple[CatalogueChannel, ...], refuse: _Refuse
    ) -> Refusal | None:
        if self._closing(service, channels):
            return None
        where = ", ".join(channels) if channels else "any channel"
        return refuse(
            "not_open",
            f"{service!r} is not open on {where}; `channelhub service list` shows what is open",
        )

    def _closing(self, service: str, channels: tuple[CatalogueChannel, ...]) -> list[Slot]:
        """The open slots of ``service`` a retirement from ``channels`` (none: all) closes."""
        chosen = set(channels or CATALOGUE_CHANNELS)
        return [slot for slot in self._open.get(service, {}) if slot[0] in chosen]

    # -- changes -------------------------------------------------------------------------------

    def _workflow_of(self, event: CatalogueEvent) -> Workflow | None:
        if isinstance(event, StepTaken):
            return self.workflows.get(event.request_id)
        return None

    def _accept(self, event: CatalogueEvent) -> None:
        if isinstance(event, ServiceSeeded):
            self._open_entries(event.service, (event.entry,))
            self.seeded = True
        elif isinstance(event, OpenRequested | RetireRequested):
            self.workflows[event.event_id] = Workflow(request=event, trail=[(event, None)])
        else:
            workflow = self.workflows[event.request_id]
            workflow.steps.append(event)
            request = workflow.request
            if event.step == "opened" and isinstance(request, OpenRequested):
                self._open_entries(request.service, request.entries)
            elif event.step == "retired" and isinstance(request, RetireRequested):
                for slot in self._closing(request.service, request.channels):
                    self._close(request.service, slot, at=event.at)

    def _note_sms_retirements(self, at: datetime) -> None:
        """Add a change to the timeline of retired SMS codes if ``at``'s record made one."""
        now = self._retired_sms()
        before = self._sms_retirements[-1][1] if self._sms_retirements else frozenset()
        if now != before:
            self._sms_retirements.append((at, now))

    def _open_entries(self, service: str, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self._open.setdefault(service, {})[slot_of(entry)] = entry
            self._retired.pop(slot_of(entry), None)
            if isinstance(entry, IvrItem):
                self._ivr[entry.keys] = service
            elif isinstance(entry, SmsHallCode):
                for word in entry.keywords:
                    self._keywords[_keyword(word)] = entry.code

    def _close(self, service: str, slot: Slot, *, at: datetime) -> None:
        entry = self._open[service].pop(slot)
        if not self._open[service]:
            del self._open[service]
        if not any(slot in entries for entries in self._open.values()):
            self._retired[slot] = Retired(entry=entry, service=service, at=at)
        if isinstance(entry, IvrItem):
            del self._ivr[entry.keys]
        elif isinstance(entry, SmsHallCode):
            still = {
                _keyword(w)
                for entries in self._open.values()
                for e in entries.values()
                if isinstance(e, SmsHallCode) and e.code == entry.code
                for w in e.keywords
            }
            for word in entry.keywords:
                if _keyword(word) not in still:
                    self._keywords.pop(_keyword(word), None)


#: Digit runs, whole: ``0103`` in "发送0103到10086", not in "01031".
_NUMBERS = re.compile(r"(?<![0-9])[0-9]{1,8}(?![0-9])")


def _slot_order(slot: Slot) -> tuple[int, str]:
    return CATALOGUE_CHANNELS.index(slot[0]), slot[1]


def fold(events: Iterable[CatalogueEvent]) -> Catalogue:
    """The catalogue after ``events``, in order."""
    catalogue = Catalogue()
    for event in events:
        catalogue.apply(event)
    return catalogue
