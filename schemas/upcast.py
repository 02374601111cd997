"""Other versions of an event type, upgraded to the canonical form before validation.

A channel system is upgraded on its own schedule: the day its vendor ships version 2 of an
event, its events must keep flowing instead of filling the dead-letter topic. Each accepted
version other than :data:`schemas.envelope.SCHEMA_VERSION` is an :class:`Upcaster`: the shape
of that version as a msgspec Struct (so it is decoded with the same typed errors as version 1
and exported as JSON Schema for the channel systems) and a function from that shape to the
canonical version-1 JSON object, which is then validated like any version-1 event. Everything
downstream (the canonical topic, ClickHouse, the nudge stage) only ever sees version 1.

:func:`schemas.validation.validate` consults the registry only after the version-1 decode
failed and the object says it is another version, so the common path pays nothing.

Shipped upgrades (documented for channel-system developers in ``docs/collector.md``):

- ``ivr.queue_entered`` version 2: the ACD release that reports the queue as an object,
  ``"queue": {"name": "billing", "position": 3}``; version 1 has ``queue`` and ``position``
  side by side in ``attributes``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from schemas.envelope import SCHEMA_VERSION, Attributes, Envelope, Name
from schemas.events import EVENT_TYPES

S = TypeVar("S", bound=Envelope)


@dataclass(frozen=True)
class Upcaster:
    """How one version of one event type becomes canonical."""

    event_type: str
    version: int
    #: the shape of that version: decoded strictly, exported as JSON Schema
    schema: type[Envelope]
    #: the decoded event of that version → the canonical (version 1) JSON object; raising
    #: ``ValueError`` refuses the event with that message
    to_canonical: Callable[[Any], dict[str, Any]]
    decoder: msgspec.json.Decoder[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "decoder", msgspec.json.Decoder(self.schema))


#: ``(event_type, version)`` → its upcaster; :func:`register` fills it.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register(
    schema: type[S], version: int
) -> Callable[[Callable[[S], dict[str, Any]]], Callable[[S], dict[str, Any]]]:
    """Decorator: ``function`` upgrades version ``version`` of ``schema``'s event type.

    Refuses version 1 (that is the canonical form itself), an event type the model does not
    have, and a second upcaster for the same version: two would make the result depend on
    import order.
    """
    event_type: str = schema.__struct_config__.tag  # type: ignore[assignment]
    if version == SCHEMA_VERSION or event_type not in EVENT_TYPES:
        raise ValueError(f"cannot register an upcaster for {event_type} version {version}")
    if (event_type, version) in UPCASTERS:
        raise ValueError(f"{event_type} version {version} already has an upcaster")

    def add(function: Callable[[S], dict[str, Any]]) -> Callable[[S], dict[str, Any]]:
        UPCASTERS[(event_type, version)] = Upcaster(event_type, version, schema, function)
        return function

    return add


def accepted_versions(event_type: str) -> list[int]:
    """Every ``schema_version`` accepted for ``event_type``, canonical first."""
    others = sorted(v for (t, v) in UPCASTERS if t == event_type)
    return [SCHEMA_VERSION, *others]


def canonical_envelope(event: Envelope) -> dict[str, Any]:
    """The envelope of ``event`` as a canonical JSON object (``schema_version`` 1), for an
    upcaster to complete with the canonical ``attributes``."""
    envelope: dict[str, Any] = msgspec.to_builtins(event)
    envelope["schema_version"] = SCHEMA_VERSION
    return envelope


# --- ivr.queue_entered version 2 -----------------------------------------------------------


class QueueRef(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    position: Annotated[int, msgspec.Meta(ge=0, le=100_000)]


class QueueEnteredV2(Attributes):
    queue: QueueRef  # the queue and the caller's place in it, as one object
    busy_period: bool


class IvrQueueEnteredV2(Envelope, tag="ivr.queue_entered"):
    """``ivr.queue_entered`` as the version-2 ACD sends it: the queue is an object."""

    schema_version: Literal[2]  # type: ignore[assignment]  # a version's shape fixes its own
    attributes: QueueEnteredV2


@register(IvrQueueEnteredV2, 2)
def _queue_entered_v2(event: IvrQueueEnteredV2) -> dict[str, Any]:
    canonical = canonical_envelope(event)
    canonical["attributes"] = {
        "queue": event.attributes.queue.name,
        "position": event.attributes.queue.position,
        "busy_period": event.attributes.busy_period,
    }
    return canonical
