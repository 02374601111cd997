"""Every content item's versions and their reviews, folded from ``channel.content``.

:meth:`Content.apply` accepts one record or refuses it with a :class:`Refusal` that says what
is wrong and how to fix it; :func:`fold` applies a sequence in order. Pure: no clock, no I/O,
so every reader (the CLI before it writes, the nudge stage, a rebuild from ClickHouse) gets
the same versions, the same published texts and the same refusals. A refused record stays in
its item's trail as what it is: an attempt the rules did not allow.

Order of checks (first match wins):

1. ``duplicate``: the record's id was already applied (a redelivery, a second seeding);
   ignored, and not listed as a refusal.
2. ``reserved_actor``: a draft, step or rejection by ``system``, or a seed by anyone else.
3. For a seed: ``has_content`` (the item has versions already: a seed only starts an item)
   and ``wrong_version`` (a seed is version 1).
4. For a draft: ``in_review`` (the item's last version is neither published nor rejected:
   one version in review at a time) and ``wrong_version`` (not the version after the last).
5. For a step or a rejection: ``unknown_item`` (no version drafted), ``wrong_version`` (not
   the item's last version), ``finished`` (that version is published or rejected already),
   ``out_of_order`` (a step other than the next one), ``wrong_role`` (not the next step's
   role), and ``own_draft``: whoever drafted the version takes no step of it and cannot reject
   it. Four eyes.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from orchestration.content.workflow import STEPS
from schemas.content import (
    SYSTEM,
    ContentEvent,
    Drafted,
    Rejected,
    Role,
    Seeded,
    Step,
    StepTaken,
)

RefusalCode = Literal[
    "duplicate", "reserved_actor", "has_content", "in_review", "wrong_version",
    "unknown_item", "finished", "out_of_order", "wrong_role", "own_draft",
]  # fmt: skip

Status = Literal["in_review", "published", "rejected"]


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """Why a record was not accepted; ``message`` says what to do instead."""

    event_id: str
    code: RefusalCode
    message: str


#: ``refuse(code, message)``: the refusal of the record being judged.
_Refuse = Callable[[RefusalCode, str], Refusal]


@dataclass
class Version:
    """One version of an item: its text, who drafted it, the steps taken, how it ended."""

    number: int
    draft: Drafted | Seeded
    steps: list[StepTaken] = field(default_factory=list)
    rejection: Rejected | None = None

    @property
    def text(self) -> str:
        return self.draft.text

    @property
    def status(self) -> Status:
        if isinstance(self.draft, Seeded) or any(s.step == "published" for s in self.steps):
            return "published"
        return "rejected" if self.rejection is not None else "in_review"

    @property
    def next_step(self) -> tuple[Step, Role] | None:
        """The step due and its role; None once published or rejected."""
        if self.status != "in_review":
            return None
        return STEPS[len(self.steps)]

    @property
    def last_step(self) -> str:
        return self.steps[-1].step if self.steps else "drafted"


@dataclass
class Item:
    """One content item: its versions, oldest first, and every record about it."""

    item_id: str
    versions: list[Version] = field(default_factory=list)
    #: Every record about the item, in order, with its refusal (None: accepted).
    trail: list[tuple[ContentEvent, Refusal | None]] = field(default_factory=list)

    @property
    def last(self) -> Version | None:
        return self.versions[-1] if self.versions else None

    @property
    def published(self) -> Version | None:
        """The newest published version: the one now in use."""
        return next((v for v in reversed(self.versions) if v.status == "published"), None)

    def published_version(self, text: str) -> int | None:
        """The newest published version whose text is ``text``; None if none is."""
        for version in reversed(self.versions):
            if version.status == "published" and version.text == text:
                return version.number
        return None


class Content:
    """Every item and its versions, as of the records applied."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self._seen: set[str] = set()
        #: Every refusal but duplicates, in order.
        self.refusals: list[Refusal] = []
        #: How many records were accepted: changes when anything is drafted or decided.
        self.revision = 0

    def has_applied(self, event_id: str) -> bool:
        return event_id in self._seen

    def published_version(self, item: str, text: str) -> int | None:
        """The newest published version of ``item`` whose text is ``text``."""
        found = self.items.get(item)
        return None if found is None else found.published_version(text)

    def apply(self, event: ContentEvent) -> Refusal | None:
        """Accept ``event`` (None) or refuse it; see the module docstring for the order."""
        refusal = self.judge(event)
        if refusal is not None and refusal.code == "duplicate":
            return refusal
        self._seen.add(event.event_id)
        item = self.items.setdefault(event.item, Item(event.item))
        item.trail.append((event, refusal))
        if refusal is not None:
            self.refusals.append(refusal)
            return refusal
        if isinstance(event, Drafted | Seeded):
            item.versions.append(Version(number=event.version, draft=event))
        elif isinstance(event, StepTaken):
            item.versions[-1].steps.append(event)
        else:
            item.versions[-1].rejection = event
        self.revision += 1
        return None

    def judge(self, event: ContentEvent) -> Refusal | None:
        """What :meth:`apply` would decide, changing nothing: how a writer checks a record
        before it produces it."""

        def refuse(code: RefusalCode, message: str) -> Refusal:
            return Refusal(event_id=event.event_id, code=code, message=message)

        if event.event_id in self._seen:
            return refuse("duplicate", f"record {event.event_id} was already applied")
        if (event.who == SYSTEM) != isinstance(event, Seeded):
            return refuse(
                "reserved_actor",
                f"{SYSTEM!r} only seeds the texts in use before publishing, and only it does; "
                "draft and review under your own user id",
            )
        item = self.items.get(event.item)
        last = None if item is None else item.last
        name = event.item
        if isinstance(event, Seeded):
            if last is not None:
                return refuse(
                    "has_content",
                    f"{name} has versions already; change it with `channelhub content draft`",
                )
            return _version(event, 1, refuse)
        if isinstance(event, Drafted):
            if last is not None and last.status == "in_review":
                return refuse(
                    "in_review",
                    f"version {last.number} of {name} is in review (next: {last.last_step} → "
                    f"{_due(last)}); wait for it, or have its reviewer reject it first",
                )
            return _version(event, 1 if last is None else last.number + 1, refuse)
        if last is None:
            return refuse(
                "unknown_item",
                f"nothing of {name} is drafted; `channelhub content list` shows the items",
            )
        return _version(event, last.number, refuse) or _review(event, last, refuse)


def _version(event: ContentEvent, wanted: int, refuse: _Refuse) -> Refusal | None:
    if event.version == wanted:
        return None
    return refuse(
        "wrong_version",
        f"the record is for version {event.version} of {event.item}, but the version "
        f"{'due' if isinstance(event, Drafted | Seeded) else 'in question'} is {wanted}",
    )


def _review(event: StepTaken | Rejected, version: Version, refuse: _Refuse) -> Refusal | None:
    upcoming = version.next_step
    if upcoming is None:
        return refuse(
            "finished",
            f"version {version.number} of {event.item} is {version.status} already; a change "
            "needs a new draft",
        )
    step, role = upcoming
    if isinstance(event, StepTaken) and event.step != step:
        return refuse(
            "out_of_order",
            f"version {version.number} of {event.item} is at {version.last_step!r}; its next "
            f"step is {step!r}, taken by a {role}, not {event.step!r}",
        )
    if event.role != role:
        doing = "reject it" if isinstance(event, Rejected) else f"take {step!r}"
        return refuse("wrong_role", f"only a {role} may {doing} now, not a {event.role}")
    if event.who == version.draft.who:
        return refuse(
            "own_draft",
            f"{event.who} drafted version {version.number} of {event.item} and cannot review "
            f"it; another {role} must",
        )
    return None


def _due(version: Version) -> str:
    upcoming = version.next_step
    return "nothing" if upcoming is None else f"{upcoming[0]} by a {upcoming[1]}"


def fold(events: Iterable[ContentEvent]) -> Content:
    """The content after ``events``, in order."""
    content = Content()
    for event in events:
        content.apply(event)
    return content
