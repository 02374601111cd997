"""Reading rule files: one rule per TOML file, each checked on its own.

TOML because rule files are written and reviewed by people: comments explain thresholds,
there is no indentation to get wrong, and Python reads it with the standard library
(``tomllib``). :func:`load_rules` returns the good rules *and* the errors, so a running worker
that reloads its rules keeps every valid one and reports the rest instead of stopping.
"""

import re
import tomllib
from pathlib import Path

import msgspec

from orchestration.rules.compile import Rule, compile_rule
from orchestration.rules.errors import UNKNOWN_RULE, RuleConfigError
from orchestration.rules.model import FORMAT_VERSION, RuleFile

#: The rules channelhub ships, on by default.
SHIPPED_RULES_DIR = Path(__file__).parent / "config"

_MSGSPEC_FIELD = re.compile(r"^Object (?:missing required|contains unknown) field `([^`]+)`")


def load_rule_file(path: Path) -> Rule:
    """Read, check and compile one rule file; raises :class:`RuleConfigError`."""
    file = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise RuleConfigError(file, UNKNOWN_RULE, "<file>", f"cannot read it as TOML: {e}") from e
    rule_table = raw.get("rule")
    rule_id = rule_table.get("id") if isinstance(rule_table, dict) else None
    rule = rule_id if isinstance(rule_id, str) else UNKNOWN_RULE
    version = raw.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise RuleConfigError(
            file,
            rule,
            "version",
            f"format version {version!r} is not supported; this channelhub reads "
            f"version = {FORMAT_VERSION}",
        )
    try:
        spec = msgspec.convert(raw, RuleFile).rule
    except msgspec.ValidationError as e:
        field, problem = _explain(str(e))
        raise RuleConfigError(file, rule, field, problem) from e
    return compile_rule(spec, file)


def load_rules(directory: Path) -> tuple[list[Rule], list[RuleConfigError]]:
    """Every valid rule in ``directory/*.toml`` (by file name), and an error for each bad file.

    A rule id already taken by an earlier file is an error of the later file; the earlier
    rule stays.
    """
    rules: dict[str, Rule] = {}
    errors: list[RuleConfigError] = []
    for path in sorted(directory.glob("*.toml")):
        try:
            rule = load_rule_file(path)
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


def _explain(message: str) -> tuple[str, str]:
    """msgspec's ``problem - at `$.rule.delay_s``` as (``rule.delay_s``, problem)."""
    problem, _, path = message.partition(" - at `")
    field = path.rstrip("`").removeprefix("$").removeprefix(".")
    named = _MSGSPEC_FIELD.match(problem)
    if named:
        field = f"{field}.{named[1]}" if field else named[1]
    return field or "<file>", problem
