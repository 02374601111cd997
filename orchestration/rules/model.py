"""What a rule file says: the schema of one versioned rule, as msgspec structs.

These structs are the file format. Decoding checks types, ranges and unknown keys; the
checks that need to know the event types and fields (a trigger that does not exist, a
condition on a field the trigger does not carry, a template placeholder nobody can fill) are
made when the rule is compiled (:mod:`orchestration.rules.compile`).

The guardrail settings are the guardrails' own struct
(:class:`schemas.guardrails.GuardrailSettings`), so a rule's ``[rule.guardrails]``
table is exactly what the guardrails consume; the conversion goal (:data:`schemas.goals.Goal`)
is data for attribution, and travels on the nudge and campaign topics.
"""

from typing import Annotated, Literal

import msgspec

from schemas.goals import Goal
from schemas.guardrails import GuardrailSettings

#: The rule-file format this code reads. A file states it as ``version = 1``; a future format
#: gets a new number so an old worker refuses it instead of misreading it.
FORMAT_VERSION = 1

RuleId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$",
        description="lower-case letters, digits, '_', '.', '-'; at most 64 characters",
    ),
]
Op = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in"]


class Condition(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``field op value``, e.g. ``wait_s gt 60``; ``on`` limits it to one trigger type."""

    field: str
    op: Op
    #: bool, number or string matching the field's kind; a non-empty list for ``in``/``not_in``.
    value: object
    on: str | None = None


class RuleSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One rule as written in its file's ``[rule]`` table."""

    id: RuleId
    description: str
    triggers: Annotated[list[str], msgspec.Meta(min_length=1)]
    template: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    goal: Goal
    delay_s: Annotated[int, msgspec.Meta(ge=0, le=7 * 86_400)] = 0
    conditions: list[Condition] = msgspec.field(default_factory=list)
    guardrails: GuardrailSettings = msgspec.field(default_factory=GuardrailSettings)
    enabled: bool = True


class RuleFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A whole rule file: the format version and one rule."""

    version: int
    rule: RuleSpec
