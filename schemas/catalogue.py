"""The service catalogue's records: what each channel offers, and the workflows that change it.

``channel.catalogue`` carries every change to which services the self-service channels offer,
and every step of the two processes of the source deck that make those changes:

- opening a service: a department's request (:class:`OpenRequested`, naming the entries it
  wants on each chosen channel), then the marketing review, the joint review and development,
  go-live and test, content and training, and the opening itself (:class:`StepTaken`);
- retiring a service: the early-retirement request (:class:`RetireRequested`), its
  submission, the marketing review, taking it offline and testing, updating the content, and
  the retirement.

Today's static catalogue enters as :class:`ServiceSeeded` records, one per entry, with
deterministic ids, so seeding twice adds nothing.

A record is a fact someone asked for, not yet an accepted change: the fold
(:mod:`orchestration.catalogue`) replays the topic in order and decides, the same way for
every reader, which records it accepts and why it refuses the others. Every record carries
who (a user id, or ``seed``) and when.

An entry (:data:`Entry`) is one function of one channel, tagged by channel: an IVR menu item at
its key path, an SMS-hall code with the keywords that lead to it, a web or WAP hall function,
a kiosk service. The same function may serve several services (one web page unsubscribes from
every SP service), so an entry belongs to the service it is opened for.
"""

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from schemas.envelope import EventId, Name, UtcTime

SCHEMA_VERSION: Literal[1] = 1

#: The channels whose functions the catalogue lists (agents are people, not a menu).
CatalogueChannel = Literal["ivr", "sms", "web", "wap", "kiosk"]
CATALOGUE_CHANNELS: tuple[CatalogueChannel, ...] = ("ivr", "sms", "web", "wap", "kiosk")

#: A service or a hall function, named ``<area>.<thing>`` as analysts query it.
ServiceName = Name
#: Who took a step: a user id (a login or a dashboard user name), or ``seed``.
Actor = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")]
Department = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
KeyPath = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9*#](-[0-9*#]){0,3}$", description="IVR keys, e.g. 1-2")
]
Code = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,8}$", description="SMS-hall code")]
Keyword = Annotated[
    str, msgspec.Meta(pattern=r"^[^\s\d]{1,16}$", description="SMS text that leads to a code")
]
Note = Annotated[str, msgspec.Meta(max_length=500)]

#: The roles a step is taken in (:mod:`orchestration.catalogue.workflows` says which step
#: needs which role).
Role = Literal[
    "requester", "marketing_reviewer", "developer", "tester", "content_owner", "channel_owner"
]
ROLES: tuple[Role, ...] = Role.__args__  # type: ignore[attr-defined]

#: Every step after the request, of either process.
Step = Literal[
    "marketing_reviewed", "jointly_reviewed_and_developed", "live_and_tested",
    "content_and_training_ready", "opened",
    "submitted", "offline_and_tested", "content_updated", "retired",
]  # fmt: skip
STEPS: tuple[Step, ...] = Step.__args__  # type: ignore[attr-defined]

#: The seeding's actor: not a person, so it takes no step and needs no role.
SEED = "seed"


class _Entry(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="channel"
):
    """One function of one channel."""


class IvrItem(_Entry, frozen=True, tag="ivr"):
    """A 10086 menu item, reached by pressing ``keys`` (``1-1``; ``5`` for a level-1 item)."""

    keys: KeyPath

    @property
    def slot(self) -> str:
        return self.keys


class SmsHallCode(_Entry, frozen=True, tag="sms"):
    """An SMS-hall code and the keywords that also lead to it (latin ones match the whole
    text in any case, Chinese ones anywhere in it)."""

    code: Code
    keywords: tuple[Keyword, ...] = ()

    @property
    def slot(self) -> str:
        return self.code


class WebFunction(_Entry, frozen=True, tag="web"):
    function: ServiceName

    @property
    def slot(self) -> str:
        return self.function


class WapFunction(_Entry, frozen=True, tag="wap"):
    function: ServiceName

    @property
    def slot(self) -> str:
        return self.function


class KioskService(_Entry, frozen=True, tag="kiosk"):
    function: ServiceName

    @property
    def slot(self) -> str:
        return self.function


Entry = IvrItem | SmsHallCode | WebFunction | WapFunction | KioskService


def channel_of(entry: Entry) -> CatalogueChannel:
    """The entry's channel: its tag."""
    return entry.__struct_config__.tag  # type: ignore[return-value]


class _Record(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="event_type"
):
    """Fields every catalogue record has."""

    event_id: EventId
    schema_version: Literal[1] = SCHEMA_VERSION
    service: ServiceName
    who: Actor
    at: UtcTime


class OpenRequested(_Record, frozen=True, tag="service.open_requested"):
    """A department asks to open ``service`` with ``entries`` (on the channels it chose).

    The request's id is its ``event_id``: every later step names it.
    """

    department: Department
    entries: Annotated[tuple[Entry, ...], msgspec.Meta(min_length=1, max_length=32)]
    reason: Note = ""

    @property
    def request_id(self) -> str:
        return self.event_id


class RetireRequested(_Record, frozen=True, tag="service.retire_requested"):
    """A department asks to retire ``service`` early from ``channels`` (none: from all)."""

    department: Department
    channels: Annotated[tuple[CatalogueChannel, ...], msgspec.Meta(max_length=5)] = ()
    reason: Note = ""

    @property
    def request_id(self) -> str:
        return self.event_id


class StepTaken(_Record, frozen=True, tag="service.step"):
    """``who``, acting as ``role``, took ``step`` of request ``request_id`` for ``service``."""

    request_id: EventId
    step: Step
    role: Role
    note: Note = ""


class ServiceSeeded(_Record, frozen=True, tag="service.seeded"):
    """``entry`` was open for ``service`` before the workflows existed: today's catalogue."""

    entry: Entry


Request = OpenRequested | RetireRequested
CatalogueEvent = OpenRequested | RetireRequested | StepTaken | ServiceSeeded

#: The topic's one key: every record on one partition, in one order (see
#: :mod:`schemas.registry`).
KEY = b"catalogue"

_SEED_IDS = uuid.UUID("5c0f6a52-8d8e-4c1e-9a57-0b6e1f3c2a10")
_decoder = msgspec.json.Decoder(CatalogueEvent)


def seed_id(service: str, entry: Entry) -> str:
    """The id of the seed record of ``entry`` for ``service``: the same for the same entry, so
    a second seeding is recognised as done; a changed entry (new keywords) is a new record."""
    return str(uuid.uuid5(_SEED_IDS, f"{service}|{msgspec.json.encode(entry).decode()}"))


def new_id() -> str:
    return str(uuid.uuid4())


def seeded(service: str, entry: Entry, *, at: datetime) -> ServiceSeeded:
    return ServiceSeeded(
        event_id=seed_id(service, entry), service=service, who=SEED, at=at, entry=entry
    )


def encode(event: CatalogueEvent) -> bytes:
    return msgspec.json.encode(event)


def decode(value: bytes) -> CatalogueEvent:
    """Raises ``msgspec.ValidationError`` / ``DecodeError`` for anything else."""
    return _decoder.decode(value)
