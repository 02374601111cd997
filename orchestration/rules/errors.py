"""The one error a rule file can cause, naming the file, the rule and the field."""

from kernel.errors import ConfigError

#: Stands for the rule id when a file is too broken to say which rule it holds.
UNKNOWN_RULE = "<no id>"


class RuleConfigError(ConfigError):
    """A rule file is invalid: ``file``, ``rule`` and ``field`` say where, ``problem`` what.

    ``field`` is a path into the file, e.g. ``rule.conditions[0].value``; it is ``<file>`` for
    a file that is not valid TOML at all.
    """

    def __init__(self, file: str, rule: str, field: str, problem: str) -> None:
        super().__init__(f"{file}: rule {rule!r}, field {field}: {problem}")
        self.file = file
        self.rule = rule
        self.field = field
        self.problem = problem
