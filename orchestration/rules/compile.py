"""From a decoded rule spec to a :class:`Rule` that evaluates in microseconds.

Compiling is where a rule meets the event model: each trigger must be a subscriber event
type, each condition must name a field that trigger offers with a value of the right kind, and
every template placeholder must be a field all triggers offer. Whatever passes is turned into
getters and small closures per trigger type, so evaluation does no lookups by name and cannot
fail on an event of a type the rule accepted.
"""

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from orchestration.journey import Journey
from orchestration.rules.errors import RuleConfigError
from orchestration.rules.fields import Field, Getter, common_fields, fields_for
from orchestration.rules.guidance import WAYS
from orchestration.rules.model import Condition, RuleSpec
from orchestration.templates import Template, TemplateError, compile_template
from schemas.envelope import Envelope
from schemas.events import EVENT_TYPES
from schemas.goals import Goal, UsesSelfService
from schemas.guardrails import GuardrailSettings

Test = Callable[[object], bool]
#: Builds the error for a field (a path below the caller's) and a problem.
Fail = Callable[[str, str], RuleConfigError]


class _Check(NamedTuple):
    get: Getter
    test: Test


class _Trigger(NamedTuple):
    """What the rule does for one trigger type: its checks and its template's getters."""

    checks: tuple[_Check, ...]
    item: Getter
    values: tuple[tuple[str, Getter], ...]


@dataclass(frozen=True, eq=False)
class Rule:
    """A loaded, checked rule. ``spec`` is what the file said; ``source`` is the file."""

    spec: RuleSpec
    source: str
    template: Template
    triggers: Mapping[str, _Trigger]
    #: The published version of the rule's template (:mod:`orchestration.content.gate`), once
    #: the stage has checked it; None before.
    template_version: int | None = None

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def enabled(self) -> bool:
        return self.spec.enabled

    @property
    def delay(self) -> timedelta:
        return timedelta(seconds=self.spec.delay_s)

    @property
    def guardrails(self) -> GuardrailSettings:
        return self.spec.guardrails

    @property
    def goal(self) -> Goal:
        return self.spec.goal

    def matches(self, event: Envelope, event_type: str, journey: Journey) -> bool:
        """Is ``event`` (of ``event_type``) a trigger and do all its conditions hold?"""
        trigger = self.triggers.get(event_type)
        return trigger is not None and all(c.test(c.get(event, journey)) for c in trigger.checks)

    def render(self, event: Envelope, event_type: str, journey: Journey) -> tuple[str, str]:
        """The SMS text and the goal id for a matching event."""
        trigger = self.triggers[event_type]
        text = self.template.render({name: get(event, journey) for name, get in trigger.values})
        item = trigger.item(event, journey)
        return text, self.spec.goal.goal_id(str(item))


def compile_rule(spec: RuleSpec, source: str) -> Rule:
    """Check ``spec`` against the event model; raises :class:`RuleConfigError`."""

    def fail(field: str, problem: str) -> RuleConfigError:
        return RuleConfigError(source, spec.id, field, problem)

    def under(prefix: str) -> Fail:
        return lambda field, problem: fail(f"{prefix}.{field}" if field else prefix, problem)

    triggers = spec.triggers
    for i, event_type in enumerate(triggers):
        _check_trigger(event_type, triggers[:i], under(f"rule.triggers[{i}]"))
    try:
        template = compile_template(spec.template, common_fields(triggers))
    except TemplateError as e:
        raise fail("rule.template", e.problem) from e
    _check_goal(spec.goal, fail)
    for i, condition in enumerate(spec.conditions):
        if condition.on is not None and condition.on not in triggers:
            raise fail(f"{_at(i)}.on", f"{condition.on!r} is not one of the triggers {triggers}")
    compiled = {}
    for event_type in triggers:
        fields = fields_for(event_type)
        checks = tuple(
            _compile_condition(c, fields, event_type, under(_at(i)))
            for i, c in enumerate(spec.conditions)
            if c.on is None or c.on == event_type
        )
        values = tuple((name, fields[name].get) for name in template.fields)
        compiled[event_type] = _Trigger(checks, fields["request_item"].get, values)
    return Rule(spec, source, template, compiled)


def _at(index: int) -> str:
    return f"rule.conditions[{index}]"


def _check_trigger(event_type: str, earlier: list[str], fail: Fail) -> None:
    if event_type not in EVENT_TYPES:
        close = difflib.get_close_matches(event_type, EVENT_TYPES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "; see `channelhub schemas export`"
        raise fail("", f"unknown event type {event_type!r}{hint}")
    if not EVENT_TYPES[event_type].about_subscriber:
        raise fail("", f"{event_type} is not about a subscriber, so there is nobody to send to")
    if event_type in earlier:
        raise fail("", f"{event_type} is listed twice")


def _check_goal(goal: Goal, fail: Fail) -> None:
    if not isinstance(goal, UsesSelfService) or goal.function == "suggested":
        return
    if goal.function not in WAYS or not WAYS[goal.function].exists:
        raise fail(
            "rule.goal.function",
            f"{goal.function!r} is not an item with a self-service way; use 'suggested' "
            "or one of the guidance table's items",
        )


def _compile_condition(
    condition: Condition,
    fields: Mapping[str, Field],
    event_type: str,
    fail: Fail,
) -> _Check:
    field = fields.get(condition.field)
    if field is None:
        close = difflib.get_close_matches(condition.field, fields, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise fail(
            "field",
            f"unknown field {condition.field!r} for trigger {event_type}{hint}; known: "
            f"{', '.join(sorted(fields))}",
        )
    op, value = condition.op, condition.value
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise fail("value", f"{op} needs a non-empty list of values")
        for v in value:
            _check_value(field, v, fail)
        members = frozenset(value)
        return _Check(field.get, members.__contains__ if op == "in" else lambda v: v not in members)
    _check_value(field, value, fail)
    if op == "eq":
        return _Check(field.get, lambda v: v == value)
    if op == "ne":
        return _Check(field.get, lambda v: v != value)
    if field.kind != "number":
        raise fail("op", f"{op} compares numbers, but {field.name} is a {field.kind}")
    assert isinstance(value, int | float)  # checked above
    return _Check(field.get, _ORDERING[op](value))


def _check_value(field: Field, value: object, fail: Fail) -> None:
    """Is ``value`` of the field's kind (and one of its choices, when closed)?"""
    expected = {"bool": (bool,), "number": (int, float), "str": (str,)}[field.kind]
    if not isinstance(value, expected) or (field.kind == "number" and isinstance(value, bool)):
        raise fail("value", f"{field.name} is a {field.kind}, got {value!r}")
    if field.choices is not None and value not in field.choices:
        raise fail("value", f"{value!r} is not a {field.name}; one of {sorted(field.choices)}")


def _gt(limit: float) -> Test:
    return lambda v: isinstance(v, int | float) and v > limit


def _ge(limit: float) -> Test:
    return lambda v: isinstance(v, int | float) and v >= limit


def _lt(limit: float) -> Test:
    return lambda v: isinstance(v, int | float) and v < limit


def _le(limit: float) -> Test:
    return lambda v: isinstance(v, int | float) and v <= limit


_ORDERING: dict[str, Callable[[float], Test]] = {"gt": _gt, "ge": _ge, "lt": _lt, "le": _le}
