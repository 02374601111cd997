"""Alert rules of the agent queue: the TOML file, its model, and how each reading reads.

A rule says which queue number to watch (``kind``), on which side of ``threshold`` it alerts,
over how many minutes, and how loud (``severity``). Rates and speeds are measured over the
rule's own window; ``waiting_above`` reads calls waiting *now*, so it takes no window. The
file also holds the service-level definition (answer within ``answer_within_s``, short
abandons under ``short_abandon_s``), so the page and the evaluator judge calls the same way.
"""

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from dashboards.queries.queue import Rules
from kernel.errors import ChannelhubError
from kernel.settings import Settings

DEFAULT_FILE = Path(__file__).parent / "config" / "queue.toml"

Kind = Literal["service_level_below", "abandonment_above", "asa_above", "waiting_above"]
Severity = Literal["info", "warning", "critical"]
RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]

#: What each kind measures, as people read it.
METRIC_NAMES: dict[str, str] = {
    "service_level_below": "Service level",
    "abandonment_above": "Abandonment rate",
    "asa_above": "Average speed of answer",
    "waiting_above": "Calls waiting",
}
_SHARES = {"service_level_below", "abandonment_above"}
#: The page changes the service level's answer time as if it were a rule of this id, with the
#: seconds as its ``threshold``.
ANSWER_WITHIN = "answer_within_s"
#: What the page may change of a rule.
EDITABLE = ("threshold", "window_minutes", "severity")


class AlertConfigError(ChannelhubError):
    """The rules file (or a threshold typed on the page) does not validate; says where."""


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: RuleId
    kind: Kind
    threshold: float = Field(ge=0, le=100_000)
    window_minutes: int | None = Field(None, ge=1, le=240)
    severity: Severity = "warning"
    description: str = Field("", max_length=200)

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Self:
        if self.kind in _SHARES and self.threshold > 1:
            raise ValueError(f"{self.kind} threshold is a share from 0 to 1, got {self.threshold}")
        if self.kind == "waiting_above" and self.window_minutes is not None:
            raise ValueError("waiting_above reads calls waiting now: remove window_minutes")
        if self.kind != "waiting_above" and self.window_minutes is None:
            raise ValueError(f"{self.kind} needs window_minutes (1 to 240)")
        return self

    def breached(self, value: float | None) -> bool:
        """Is ``value`` on the alerting side? No reading (no calls) is no evidence of trouble."""
        if value is None:
            return False
        if self.kind == "service_level_below":
            return value < self.threshold
        return value > self.threshold

    @property
    def condition(self) -> str:
        """``Service level < 80.0% over 15 min``."""
        side = "<" if self.kind == "service_level_below" else ">"
        over = f" over {self.window_minutes} min" if self.window_minutes else " now"
        return f"{METRIC_NAMES[self.kind]} {side} {shown(self.kind, self.threshold)}{over}"


class ServiceLevel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    answer_within_s: float = Field(20.0, gt=0, le=600)
    target: float = Field(0.8, gt=0, le=1)
    short_abandon_s: float = Field(5.0, ge=0, le=60)

    @property
    def rules(self) -> Rules:
        return Rules(threshold_s=self.answer_within_s, grace_s=self.short_abandon_s)


class AlertConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    service_level: ServiceLevel = ServiceLevel()
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        ids = [rule.id for rule in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"rule ids must be unique, got {ids}")
        return self

    def overridden(self, overrides: Mapping[str, Mapping[str, object]]) -> "AlertConfig":
        """A copy with changes made on the page: ``{rule_id: {field: value}}`` for the fields
        in :data:`EDITABLE`, and ``{ANSWER_WITHIN: {"threshold": seconds}}`` for the service
        level. Validated like the file's own; anything else is refused by name.
        """
        known = {rule.id for rule in self.rules} | {ANSWER_WITHIN}
        unknown = sorted(str(key)[:40] for key in overrides if key not in known)
        if unknown:
            raise AlertConfigError(f"unknown rule {', '.join(map(repr, unknown))}")
        for key, fields in overrides.items():
            if not isinstance(fields, Mapping):
                raise AlertConfigError(f"{key}: the change is unreadable")
            allowed = ("threshold",) if key == ANSWER_WITHIN else EDITABLE
            others = sorted(str(name)[:40] for name in fields if name not in allowed)
            if others:
                raise AlertConfigError(f"{key}: {', '.join(map(repr, others))} cannot be changed")
            required = ("threshold",) if key == ANSWER_WITHIN else ()
            for name in ("threshold", "severity"):
                if (name in fields and fields[name] in (None, "")) or (
                    name in required and name not in fields
                ):
                    raise AlertConfigError(f"{key}: enter a {name}")
        try:
            service_level = self.service_level
            if ANSWER_WITHIN in overrides:
                service_level = ServiceLevel.model_validate(
                    {
                        **service_level.model_dump(),
                        ANSWER_WITHIN: overrides[ANSWER_WITHIN]["threshold"],
                    }
                )
            rules = tuple(
                Rule.model_validate({**rule.model_dump(), **overrides[rule.id]})
                if rule.id in overrides
                else rule
                for rule in self.rules
            )
        except ValidationError as e:
            raise AlertConfigError(_describe(e)) from None
        return AlertConfig(service_level=service_level, rules=rules)


def rules_file(settings: Settings) -> Path:
    return settings.alert_rules_file or DEFAULT_FILE


def load(path: Path) -> AlertConfig:
    """The config in ``path``, or :class:`AlertConfigError` naming the file and the field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise AlertConfigError(f"cannot read alert rules {path}: {e}") from e
    try:
        return AlertConfig.model_validate(data)
    except ValidationError as e:
        raise AlertConfigError(f"alert rules {path}: {_describe(e)}") from None


def shown(kind: str, value: float | None) -> str:
    """A reading with its unit: ``72.0%``, ``18.4 s``, ``12 calls``; ``—`` for no reading."""
    if value is None:
        return "—"
    if kind in _SHARES:
        return f"{value:.1%}"
    if kind == "asa_above":
        return f"{value:.1f} s"
    return f"{value:,.0f} calls"


def _describe(e: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'file'}: "
        f"{error['msg'].removeprefix('Value error, ')}"
        for error in e.errors()
    )
