"""Reading rule files: one rule per TOML file, each checked on its own.

:func:`load_rules` returns the good rules *and* the errors, so a running worker
that reloads its rules keeps every valid one and reports the rest instead of stopping.
"""

from collections.abc import Callable
from pathlib import Path

from orchestration.config_files import load_versioned
from orchestration.rules.compile import Rule, compile_rule
from orchestration.rules.errors import UNKNOWN_RULE, RuleConfigError
from orchestration.rules.model import FORMAT_VERSION, RuleFile

#: The rules channelhub ships, on by default.
SHIPPED_RULES_DIR = Path(__file__).parent / "config"


def load_rule_file(path: Path) -> Rule:
    """Read, check and compile one rule file; raises :class:`RuleConfigError`."""
    spec = load_versioned(
        path, table="rule", schema=RuleFile, version=FORMAT_VERSION, unknown=UNKNOWN_RULE,
        error=RuleConfigError,
    ).rule  # fmt: skip
    return compile_rule(spec, str(path))


def load_rules(
    directory: Path, bind: Callable[[Rule], Rule] | None = None
) -> tuple[list[Rule], list[RuleConfigError]]:
    """Every valid rule in ``directory/*.toml`` (by file name), and an error for each bad file.

    A rule id already taken by an earlier file is an error of the later file; the earlier
    rule stays. ``bind``, when given, is applied to each rule as it is loaded (the nudge
    stage binds each to its published template, :mod:`orchestration.content.gate`); the
    :class:`RuleConfigError` it raises is the file's error.
    """
    rules: dict[str, Rule] = {}
    errors: list[RuleConfigError] = []
    for path in sorted(directory.glob("*.toml")):
        try:
            rule = load_rule_file(path)
            rule = bind(rule) if bind is not None else rule
        except RuleConfigError as e:
            errors.append(e)
            continue
        if rule.id in rules:
            errors.append(
                RuleConfigError(
                    rule.source,
                    rule.id,
                    "rule.id",
                    f"duplicate rule id; {rules[rule.id].source} already defines it",
                )
            )
            continue
        rules[rule.id] = rule
    return list(rules.values()), errors


def load_shipped_rules() -> list[Rule]:
    """The shipped rules; any error in them is a bug, so the first one is raised."""
    rules, errors = load_rules(SHIPPED_RULES_DIR)
    if errors:
        raise errors[0]
    return rules
