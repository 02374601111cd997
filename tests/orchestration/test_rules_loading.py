"""Rule files: the shipped ones load; each kind of mistake names file, rule and field."""

from pathlib import Path

import pytest

from kernel.errors import ConfigError
from orchestration.rules import SHIPPED_RULES_DIR, RuleConfigError, load_rule_file, load_rules
from schemas.guardrails import GuardrailSettings

GOOD = """\
version = 1

[rule]
id = "test.rule"
description = "a valid rule to break"
triggers = ["ivr.abandoned"]
delay_s = 60
template = "{service_name}: {self_service_hint}"

[[rule.conditions]]
field = "wait_s"
op = "gt"
value = 30

[rule.guardrails]
holdout_share = 0.1

[rule.goal]
kind = "uses_self_service"
"""


def test_every_shipped_rule_loads_and_is_on() -> None:
    rules, errors = load_rules(SHIPPED_RULES_DIR)
    assert errors == []
    assert len(rules) == len(list(SHIPPED_RULES_DIR.glob("*.toml"))) == 7
    assert all(r.enabled and isinstance(r.guardrails, GuardrailSettings) for r in rules)


# (case, text replaced, replacement, rule named, field named)
BAD: list[tuple[str, str, str, str, str]] = [
    ("unknown trigger", '"ivr.abandoned"]', '"ivr.abandonned"]', "test.rule", "rule.triggers[0]"),
    ("trigger not about a subscriber", '"ivr.abandoned"]', '"kiosk.terminal_fault"]',
     "test.rule", "rule.triggers[0]"),
    ("unknown condition field", 'field = "wait_s"', 'field = "wiat_s"', "test.rule",
     "rule.conditions[0].field"),
    ("condition value of the wrong kind", "value = 30", 'value = "thirty"', "test.rule",
     "rule.conditions[0].value"),
    ("ordering on a string", 'field = "wait_s"\nop = "gt"\nvalue = 30',
     'field = "prefecture"\nop = "gt"\nvalue = "changsha"', "test.rule", "rule.conditions[0].op"),
    ("value outside a closed set", 'field = "wait_s"\nop = "gt"\nvalue = 30',
     'field = "prefecture"\nop = "eq"\nvalue = "beijing"', "test.rule",
     "rule.conditions[0].value"),
    ("unknown op", 'op = "gt"', 'op = "over"', "test.rule", "rule.conditions[0].op"),
    ("condition on another trigger", 'op = "gt"', 'op = "gt"\non = "sms.reply_sent"',
     "test.rule", "rule.conditions[0].on"),
    ("template with a missing field", "{service_name}", "{servce_name}", "test.rule",
     "rule.template"),
    ("template with a format spec", "{service_name}", "{service_name:>10}", "test.rule",
     "rule.template"),
    ("delay of the wrong type", "delay_s = 60", 'delay_s = "60"', "test.rule", "rule.delay_s"),
    ("negative delay", "delay_s = 60", "delay_s = -1", "test.rule", "rule.delay_s"),
    ("unknown key", "delay_s = 60", "delay_s = 60\ndelay = 5", "test.rule", "rule.delay"),
    ("missing goal", '[rule.goal]\nkind = "uses_self_service"', "", "test.rule", "rule.goal"),
    ("unknown goal function", 'kind = "uses_self_service"',
     'kind = "uses_self_service"\nfunction = "query.weather"', "test.rule", "rule.goal.function"),
    ("holdout share out of range", "holdout_share = 0.1", "holdout_share = 1.5", "test.rule",
     "rule.guardrails.holdout_share"),
    ("bad version", "version = 1", "version = 2", "test.rule", "version"),
    ("missing version", "version = 1", "", "test.rule", "version"),
    ("bad rule id", 'id = "test.rule"', 'id = "Test Rule"', "Test Rule", "rule.id"),
    ("not TOML", "[rule]", "[rule", "<no id>", "<file>"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "rule", "field"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_a_bad_file_names_file_rule_and_field(
    tmp_path: Path, old: str, new: str, rule: str, field: str
) -> None:
    assert old in GOOD
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(RuleConfigError) as raised:
        load_rule_file(path)
    error = raised.value
    assert isinstance(error, ConfigError)
    assert (error.file, error.rule, error.field) == (str(path), rule, field)
    assert str(path) in str(error)
    assert repr(rule) in str(error)
    assert field in str(error)


def test_a_bad_file_does_not_stop_the_good_ones(tmp_path: Path) -> None:
    (tmp_path / "a_good.toml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b_bad.toml").write_text(GOOD.replace("wait_s", "nope"), encoding="utf-8")
    other = GOOD.replace('id = "test.rule"', 'id = "test.other"')
    (tmp_path / "c_good.toml").write_text(other, encoding="utf-8")
    rules, errors = load_rules(tmp_path)
    assert [r.id for r in rules] == ["test.rule", "test.other"]
    assert [(e.file, e.field) for e in errors] == [
        (str(tmp_path / "b_bad.toml"), "rule.conditions[0].field")
    ]


def test_a_duplicate_id_is_an_error_of_the_later_file(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.toml").write_text(GOOD, encoding="utf-8")
    rules, errors = load_rules(tmp_path)
    assert [r.source for r in rules] == [str(tmp_path / "a.toml")]
    (error,) = errors
    assert (error.file, error.rule, error.field) == (
        str(tmp_path / "b.toml"),
        "test.rule",
        "rule.id",
    )
    assert str(tmp_path / "a.toml") in error.problem


def test_guardrail_settings_are_the_guardrails_own(tmp_path: Path) -> None:
    text = GOOD.replace(
        "holdout_share = 0.1",
        "holdout_share = 0.2\nallow_in_live_call = true\n\n[rule.guardrails.caps]\n"
        'rule_per_day = 1\n\n[rule.guardrails.quiet_hours]\npolicy = "drop"',
    )
    path = tmp_path / "r.toml"
    path.write_text(text, encoding="utf-8")
    settings = load_rule_file(path).guardrails
    assert settings.holdout_share == 0.2
    assert settings.allow_in_live_call
    assert settings.caps.rule_per_day == 1
    assert settings.quiet_hours is not None
    assert settings.quiet_hours.policy == "drop"
