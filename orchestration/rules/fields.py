"""Every field a rule can test or a template can print, per trigger event type.

One flat namespace per event type, so config files stay short (``wait_s``, not
``event.attributes.wait_s``) and conditions and templates share one check at load time:

- envelope fields: ``prefecture``, ``brand``;
- the event's attributes, straight from its msgspec struct (``wait_s``, ``item``, ``success``);
- journey facts, about the subscriber *before* this event (``call_busy_period``,
  ``in_live_call``, ``agent_contacts_7d``, ``days_since_sms``, ``sms_result_reply_due``);
- personalisation from the guidance table (``request_item``, ``service_name``, ``sms_code``,
  ``self_service_hint``, ``prefecture_name``, ``brand_name``).

Each field has a kind (bool, number, str, with the allowed values of a ``Literal``) to check a
condition's value against, and a getter ``(event, journey) -> value`` that never raises for an
event of that type.
"""

import math
from collections.abc import Callable
from functools import cache
from typing import Literal, NamedTuple

import msgspec

from kernel.clock import to_ms
from orchestration.journey import (
    DAY_MS,
    UNKNOWN_ITEM,
    Journey,
    agent_contacts_since,
    in_agent_queue,
    in_live_call,
    live_call,
)
from orchestration.rules.guidance import SelfServiceWay, way_for
from orchestration.templates import BRAND_NAMES, PREFECTURE_NAMES
from schemas.envelope import BRANDS, CHANNELS, PREFECTURES, Envelope
from schemas.events import EVENT_TYPES

Kind = Literal["bool", "number", "str"]
Getter = Callable[[Envelope, Journey], object]


class Field(NamedTuple):
    """A name a rule may use, what values it takes, and how to read it."""

    name: str
    kind: Kind
    get: Getter
    choices: frozenset[str] | None = None  # the allowed values of a str field, when closed
    optional: bool = False  # may be None (then no ordering comparison matches)


# --- the event itself ----------------------------------------------------------------------


def _attribute_getter(name: str) -> Getter:
    def get(event: Envelope, journey: Journey) -> object:
        return getattr(event.attributes, name)  # type: ignore[attr-defined]

    return get


def _kind_of(info: msgspec.inspect.Type) -> tuple[Kind, frozenset[str] | None, bool]:
    """Map a msgspec type to (kind, choices, optional)."""
    optional = False
    if isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    if isinstance(info, msgspec.inspect.UnionType):
        rest = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        optional = len(rest) < len(info.types)
        (info,) = rest
        if isinstance(info, msgspec.inspect.Metadata):
            info = info.type
    if isinstance(info, msgspec.inspect.BoolType):
        return "bool", None, optional
    if isinstance(info, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        return "number", None, optional
    if isinstance(info, msgspec.inspect.LiteralType):
        return "str", frozenset(str(v) for v in info.values), optional
    if isinstance(info, msgspec.inspect.StrType):
        return "str", None, optional
    raise TypeError(f"no rule field kind for {info!r}")  # a new schema type: extend this map


def _attribute_fields(event_type: str) -> list[Field]:
    cls = EVENT_TYPES[event_type]
    struct = msgspec.inspect.type_info(cls)
    assert isinstance(struct, msgspec.inspect.StructType)
    (attributes,) = (f.type for f in struct.fields if f.name == "attributes")
    assert isinstance(attributes, msgspec.inspect.StructType)
    return [
        Field(f.name, kind, _attribute_getter(f.name), choices, optional)
        for f in attributes.fields
        for kind, choices, optional in [_kind_of(f.type)]
    ]


_ENVELOPE_FIELDS = [
    Field("prefecture", "str", lambda e, j: e.prefecture, frozenset(PREFECTURES)),
    Field("brand", "str", lambda e, j: e.brand, frozenset(BRANDS), optional=True),
]


# --- what the customer was after -----------------------------------------------------------

#: Event types whose own attributes name the item, and the attribute that does.
_ITEM_ATTRIBUTE: dict[str, str] = {
    "ivr.menu_selected": "item",
    "ivr.self_service_completed": "item",
    "ivr.agent_requested": "topic",
    "agent.request_handled": "topic",
    "sms.confirmation_requested": "service",
    "sms.service_completed": "service",
    "kiosk.service_completed": "service",
}


def _call_item(event: Envelope, journey: Journey) -> str:
    """The last menu item of the call this event belongs to."""
    call = live_call(journey, to_ms(event.occurred_at))
    return call.item if call is not None and call.session_id == event.session_id else UNKNOWN_ITEM


def _dialogue_service(event: Envelope, journey: Journey) -> str:
    """The service last carried out in the SMS dialogue this event belongs to."""
    sms = journey.sms
    if sms is None or sms.session_id != event.session_id or sms.service is None:
        return UNKNOWN_ITEM
    return sms.service


def _item_getter(event_type: str) -> Callable[[Envelope, Journey], str]:
    if event_type in _ITEM_ATTRIBUTE:
        name = _ITEM_ATTRIBUTE[event_type]
        return lambda e, j: getattr(e.attributes, name)  # type: ignore[attr-defined]
    if event_type.startswith("ivr."):
        return _call_item
    if event_type.startswith("sms."):
        return _dialogue_service
    return lambda e, j: UNKNOWN_ITEM


def _way_fields(item: Callable[[Envelope, Journey], str]) -> list[Field]:
    def way(attribute: Callable[[SelfServiceWay], object]) -> Getter:
        return lambda e, j: attribute(way_for(item(e, j)))

    return [
        Field("request_item", "str", item),
        Field("has_self_service_way", "bool", way(lambda w: w.exists)),
        Field("service_name", "str", way(lambda w: w.name)),
        Field("sms_code", "str", way(lambda w: w.sms_code or "")),
        Field("web_function", "str", way(lambda w: w.web_function or "")),
        Field("wap_function", "str", way(lambda w: w.wap_function or "")),
        Field("self_service_hint", "str", way(lambda w: w.hint)),
        Field("online_hint", "str", way(lambda w: w.online_hint)),
    ]


# --- the journey before the event, and the customer --------------------------------------


def _call_busy_period(event: Envelope, journey: Journey) -> bool:
    call = live_call(journey, to_ms(event.occurred_at))
    return call is not None and call.session_id == event.session_id and call.busy_period


def _days_since(channel: str) -> Getter:
    def get(event: Envelope, journey: Journey) -> float:
        last = journey.channel_last_ms.get(channel)
        return math.inf if last is None else (to_ms(event.occurred_at) - last) / DAY_MS

    return get


def _agent_contacts(days: int) -> Getter:
    return lambda e, j: agent_contacts_since(j, to_ms(e.occurred_at) - days * DAY_MS)


def _sms_result_reply_due(event: Envelope, journey: Journey) -> bool:
    sms = journey.sms
    return sms is not None and sms.session_id == event.session_id and sms.result_reply_due


_JOURNEY_FIELDS = [
    Field("call_busy_period", "bool", _call_busy_period),
    Field("in_live_call", "bool", lambda e, j: in_live_call(j, to_ms(e.occurred_at))),
    Field("in_agent_queue", "bool", lambda e, j: in_agent_queue(j, to_ms(e.occurred_at))),
    Field("agent_contacts_7d", "number", _agent_contacts(7)),
    Field("agent_contacts_30d", "number", _agent_contacts(30)),
    Field("sms_result_reply_due", "bool", _sms_result_reply_due),
    *(Field(f"days_since_{channel}", "number", _days_since(channel)) for channel in CHANNELS),
    Field("prefecture_name", "str", lambda e, j: PREFECTURE_NAMES[e.prefecture]),
    Field("brand_name", "str", lambda e, j: BRAND_NAMES.get(e.brand or "", "")),
]


@cache
def fields_for(event_type: str) -> dict[str, Field]:
    """Every field a rule triggered by ``event_type`` may use, by name."""
    fields = [
        *_ENVELOPE_FIELDS,
        *_attribute_fields(event_type),
        *_JOURNEY_FIELDS,
        *_way_fields(_item_getter(event_type)),
    ]
    by_name = {f.name: f for f in fields}
    if len(by_name) != len(fields):  # an attribute shadowing a derived field: rename one
        raise AssertionError(f"{event_type}: field names collide in {[f.name for f in fields]}")
    return by_name


def common_fields(event_types: list[str]) -> dict[str, Field]:
    """The fields every one of ``event_types`` offers (what a multi-trigger rule may use)."""
    first, *rest = (fields_for(t) for t in event_types)
    return {name: f for name, f in first.items() if all(name in other for other in rest)}
