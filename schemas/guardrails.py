"""What a rule (or campaign) tells the guardrails: the one struct the rules config maps onto.

Every field has a default an operator would accept for a service nudge, so a rule's config only
names what differs. The structs are frozen msgspec Structs: ``msgspec.convert(mapping,
GuardrailSettings)`` builds and validates one from a parsed config file (YAML/TOML/JSON), with
errors that name the field; constructing them directly runs the same cross-field checks.

    GuardrailSettings
    ├── caps: FrequencyCaps         per rule and across all rules, per local day and week
    ├── quiet_hours: QuietHours     local window, "hold" or "drop"; None = may send any time
    ├── holdout_share               share of subscribers kept as the rule's control group
    ├── allow_in_live_call          False = wait until the subscriber left the IVR call/queue
    ├── max_age                     older triggers are "expired", never sent
    ├── opt_out_codes               codes a "TD<code>" reply names to stop this rule only
    └── budget: Budget | None       campaigns: messages and/or fen, per SMS segment
"""

from datetime import time, timedelta
from typing import Annotated, Literal

import msgspec

Count = Annotated[int, msgspec.Meta(ge=0)]
Share = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
OptOutCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,8}$")]

#: How far back guardrail state remembers sends and decided nudge ids: one rolling week.
HORIZON = timedelta(days=7)


class FrequencyCaps(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Most SMS a subscriber may get; ``None`` means no cap, ``0`` means never.

    ``rule_*`` count this rule's sends; ``all_*`` count sends of every rule and campaign, and
    each rule states the across-all cap it respects, so marketing can be stricter than a
    service copy. Days are local calendar days. ``week`` is ``"calendar"`` (Monday 00:00 local
    onward) or ``"rolling"`` (the last 7 days).
    """

    rule_per_day: Count | None = 1
    rule_per_week: Count | None = 3
    all_per_day: Count | None = 3
    all_per_week: Count | None = 10
    week: Literal["calendar", "rolling"] = "calendar"


class QuietHours(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A daily local-time window, ``start`` inclusive to ``end`` exclusive, with no SMS.

    ``start > end`` crosses midnight (21:00-08:00); ``start < end`` does not (12:00-14:00).
    ``policy="hold"`` delays the nudge to ``end``; ``"drop"`` suppresses it, for nudges that
    are worthless a few hours late (a "you waited in the queue" tip).
    """

    start: time = time(21, 0)
    end: time = time(8, 0)
    policy: Literal["hold", "drop"] = "hold"

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError(
                f"quiet hours start and end are both {self.start.isoformat()}; give a real "
                "window, or set quiet_hours to null to allow sending at any time"
            )
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are local wall-clock times; drop the UTC offset")


class Budget(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A campaign's spending limit: messages sent and/or cost in fen (0.01 CNY).

    Cost is ``fen_per_segment`` times the SMS segments of the text (70 UCS-2 characters in one
    SMS, 67 per part of a long SMS), because that is how the SMS centre bills.
    """

    max_messages: Count | None = None
    max_fen: Count | None = None
    fen_per_segment: Count = 10

    def __post_init__(self) -> None:
        if self.max_messages is None and self.max_fen is None:
            raise ValueError("a budget needs max_messages or max_fen (or both)")


class GuardrailSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The guardrail part of one rule's or campaign's config; see the module docstring."""

    caps: FrequencyCaps = FrequencyCaps()
    quiet_hours: QuietHours | None = QuietHours()
    holdout_share: Share = 0.0
    allow_in_live_call: bool = False
    max_age: timedelta = timedelta(hours=24)
    opt_out_codes: tuple[OptOutCode, ...] = ()
    budget: Budget | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.holdout_share <= 1.0:
            raise ValueError(f"holdout_share must be within [0, 1], got {self.holdout_share}")
        if not timedelta(0) < self.max_age <= HORIZON:
            raise ValueError(
                f"max_age must be more than 0 and at most {HORIZON.days} days (what the "
                f"subscriber state remembers), got {self.max_age}"
            )


class RateLimit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A gateway's sending rate: ``per_second`` on average, bursts of up to ``burst``."""

    per_second: Annotated[float, msgspec.Meta(gt=0)]
    burst: Annotated[int, msgspec.Meta(ge=1)] = 1

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError(
                f"rate limit needs per_second > 0 and burst >= 1, got {self.per_second}, "
                f"{self.burst}"
            )
