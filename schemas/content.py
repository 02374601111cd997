"""Published content's records: every version of every text, and the four reviews it passes.

``channel.content`` carries the source deck's process for publishing content, applied to the
texts customers read: each prefecture's web-hall content and every SMS template the platform
sends (a nudge rule's, a campaign's). An item (:data:`ItemId`) has numbered versions; each
version is drafted (:class:`Drafted`), then reviewed in turn (:class:`StepTaken`): by the
branch administrator, by the column owner, checked by the provincial service centre against
the knowledge base, and published. A review may instead send the version back
(:class:`Rejected`, with the reason): the item is a draft again, and the maintainer's next
draft is the next version.

The texts in use when publishing began enter as :class:`Seeded` records (version 1,
published, by :data:`SYSTEM`), with deterministic ids, so seeding twice adds nothing.

As on the catalogue's topic, a record is something asked for: the fold
(:mod:`orchestration.content`) replays the topic in order and decides, the same way for every
reader, which records it accepts and why it refuses the others.
"""

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from schemas.catalogue import Actor, Note
from schemas.envelope import PREFECTURES, EventId, UtcTime

SCHEMA_VERSION: Literal[1] = 1

#: ``rule:<rule id>`` (a nudge rule's SMS template), ``campaign:<campaign id>`` (a campaign's),
#: or ``web:<prefecture>:<name>`` (a prefecture's web-hall content item).
ItemId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(rule|campaign):[a-z0-9][a-z0-9_.-]{0,63}$|^web:[a-z]{1,16}:[a-z0-9][a-z0-9_.-]{0,63}$",
        description="rule:<rule id>, campaign:<campaign id> or web:<prefecture>:<name>",
    ),
]
Version = Annotated[int, msgspec.Meta(ge=1)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]

#: The roles of publishing. The branch roles are held for branches: a prefecture, or
#: :data:`PROVINCE` for the province-wide SMS templates.
Role = Literal["branch_maintainer", "branch_administrator", "column_owner", "service_centre"]
ROLES: tuple[Role, ...] = Role.__args__  # type: ignore[attr-defined]
BRANCH_ROLES: frozenset[Role] = frozenset({"branch_maintainer", "branch_administrator"})

#: Every step after the draft, in order (:mod:`orchestration.content.workflow` gives the roles).
Step = Literal["branch_reviewed", "column_reviewed", "knowledge_checked", "published"]
STEPS: tuple[Step, ...] = Step.__args__  # type: ignore[attr-defined]

#: The branch of the province-wide items (rule and campaign templates).
PROVINCE = "province"
#: The seeding's actor: not a person, so it drafts and reviews nothing.
SYSTEM = "system"


def branch_of(item: str) -> str:
    """The branch whose maintainers draft ``item``: its prefecture for web-hall content,
    :data:`PROVINCE` for SMS templates; ``ValueError`` for an unknown prefecture."""
    kind, _, rest = item.partition(":")
    if kind != "web":
        return PROVINCE
    prefecture = rest.partition(":")[0]
    if prefecture not in PREFECTURES:
        raise ValueError(
            f"{item!r} names no prefecture; web items are web:<prefecture>:<name>, the "
            f"prefecture one of {', '.join(PREFECTURES)}"
        )
    return prefecture


class _Record(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="event_type"
):
    """Fields every content record has: which version of which item, who and when."""

    event_id: EventId
    schema_version: Literal[1] = SCHEMA_VERSION
    item: ItemId
    version: Version
    who: Actor
    at: UtcTime


class Drafted(_Record, frozen=True, tag="content.drafted"):
    """A branch maintainer drafts ``text`` as ``version`` of ``item``."""

    text: Text
    note: Note = ""


class StepTaken(_Record, frozen=True, tag="content.step"):
    """``who``, acting as ``role``, took ``step`` of the version (a review, or publishing)."""

    step: Step
    role: Role
    note: Note = ""


class Rejected(_Record, frozen=True, tag="content.rejected"):
    """A reviewer, acting as ``role`` at the version's next step, sends it back to draft."""

    role: Role
    reason: Reason


class Seeded(_Record, frozen=True, tag="content.seeded"):
    """``text`` was in use before publishing existed: version 1, published, by ``system``."""

    text: Text


ContentEvent = Drafted | StepTaken | Rejected | Seeded

#: The topic's one key: every record on one partition, in one order (as the catalogue's).
KEY = b"content"

_SEED_IDS = uuid.UUID("0b9b3c5e-6a0f-4f3e-8d1c-2f4a6c8e0a17")
_decoder = msgspec.json.Decoder(ContentEvent)


def seeded(item: str, text: str, *, at: datetime) -> Seeded:
    """The seed record of ``text`` for ``item``: its id derives from both, so seeding again is
    recognised as done."""
    event_id = str(uuid.uuid5(_SEED_IDS, f"{item}|{text}"))
    return Seeded(event_id=event_id, item=item, version=1, who=SYSTEM, at=at, text=text)


def new_id() -> str:
    return str(uuid.uuid4())


def encode(event: ContentEvent) -> bytes:
    return msgspec.json.encode(event)


def decode(value: bytes) -> ContentEvent:
    """Raises ``msgspec.ValidationError`` / ``DecodeError`` for anything else."""
    return _decoder.decode(value)
