"""Cross-channel nudge rules: versioned TOML files, checked at load, evaluated as pure code.

    load_rules(directory) -> (rules, errors)     every good rule, and a RuleConfigError per bad file
    evaluate(rules, event, journey) -> [NudgeRequest]

A rule names its trigger event types, conditions over the event and the subscriber's journey
(:mod:`orchestration.rules.fields` lists every usable field), a delay, an SMS template, its
:class:`schemas.guardrails.GuardrailSettings` and its conversion goal
(:data:`schemas.goals.Goal`). No Kafka or faust here: the stream worker
wires these functions to its topics and tables.
"""

from orchestration.rules.compile import Rule, compile_rule
from orchestration.rules.errors import RuleConfigError
from orchestration.rules.evaluate import evaluate
from orchestration.rules.loader import (
    SHIPPED_RULES_DIR,
    load_rule_file,
    load_rules,
    load_shipped_rules,
)
from orchestration.rules.model import FORMAT_VERSION, Condition, RuleSpec

__all__ = [
    "FORMAT_VERSION",
    "SHIPPED_RULES_DIR",
    "Condition",
    "Rule",
    "RuleConfigError",
    "RuleSpec",
    "compile_rule",
    "evaluate",
    "load_rule_file",
    "load_rules",
    "load_shipped_rules",
]
