"""The envelope every event shares, and the closed vocabularies it draws on.

Events are msgspec Structs: decoding and validating a 300-byte event costs about a
microsecond, which keeps validation off the pipeline's critical path. Each event type is a
subclass of :class:`Envelope` tagged with its ``event_type`` and carrying its own ``attributes``
struct, so one decode both picks the type and checks every field.
"""

from datetime import datetime
from typing import Annotated, ClassVar, Literal

import msgspec

SCHEMA_VERSION = 1

Channel = Literal["ivr", "sms", "web", "wap", "kiosk", "agent"]
CHANNELS: tuple[str, ...] = ("ivr", "sms", "web", "wap", "kiosk", "agent")

# The 14 prefectures of Hunan, each served by a branch company.
Prefecture = Literal[
    "changsha", "zhuzhou", "xiangtan", "hengyang", "shaoyang", "yueyang", "changde",
    "zhangjiajie", "yiyang", "chenzhou", "yongzhou", "huaihua", "loudi", "xiangxi",
]  # fmt: skip
PREFECTURES: tuple[str, ...] = Prefecture.__args__  # type: ignore[attr-defined]

# GoTone (post-paid premium), M-Zone (youth), Easyown (mass pre-paid), group customers.
Brand = Literal["gotone", "mzone", "easyown", "enterprise"]
BRANDS: tuple[str, ...] = Brand.__args__  # type: ignore[attr-defined]

EventId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description="UUID assigned at the source (UUIDv7 recommended); the deduplication key",
    ),
]
Msisdn = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^1[3-9][0-9]{9}$",
        description="11-digit mainland mobile number; personal data, pseudonymised at rest",
    ),
]
SessionId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[!-~]{1,64}$",
        description="call, SMS dialogue or web session id: 1-64 printable ASCII characters",
    ),
]
UtcTime = Annotated[
    datetime,
    msgspec.Meta(tz=True, description="RFC 3339 time with an offset, millisecond precision"),
]
Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=86_400)]
Fen = Annotated[int, msgspec.Meta(ge=0, le=100_000_000, description="amount in fen (0.01 CNY)")]


class Attributes(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every per-event-type attribute block; unknown fields are errors, not noise."""


class Envelope(msgspec.Struct, tag_field="event_type", forbid_unknown_fields=True, kw_only=True):
    """Fields every event carries. Subclasses fix ``event_type`` (the tag) and ``attributes``."""

    event_id: EventId
    schema_version: Literal[1]
    channel: Channel
    occurred_at: UtcTime
    msisdn: Msisdn | None = None
    session_id: SessionId
    prefecture: Prefecture
    brand: Brand | None = None

    #: False only for events about equipment rather than a subscriber (a kiosk fault).
    about_subscriber: ClassVar[bool] = True

    def __post_init__(self) -> None:
        prefix = self.event_type.partition(".")[0]
        if self.channel != prefix:
            raise ValueError(
                f"channel is {self.channel!r} but event_type {self.event_type!r} belongs to "
                f"channel {prefix!r}"
            )
        if self.about_subscriber and (self.msisdn is None or self.brand is None):
            raise ValueError(
                f"{self.event_type} is about a subscriber: msisdn and brand are required"
            )

    @property
    def event_type(self) -> str:
        """The tag: ``channel.action``, e.g. ``ivr.queue_entered``."""
        return type(self).__struct_config__.tag  # type: ignore[return-value]
