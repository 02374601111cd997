"""The errors of the service catalogue, each one line an operator can act on.

ConfigError (kernel.errors)
├── StaffFileError     the staff file (who holds which role) cannot be read
├── NotAllowedError    the user does not hold the role the request or step is taken in
└── RefusedError       the catalogue's rules refuse the record: carries the fold's Refusal
"""

from kernel.errors import ConfigError
from orchestration.catalogue.fold import Refusal


class StaffFileError(ConfigError):
    """The staff file is not valid: ``file`` and ``field`` say where, ``problem`` what."""

    def __init__(self, file: str, field: str, problem: str) -> None:
        super().__init__(f"{file}: {field}: {problem}")
        self.file = file
        self.field = field
        self.problem = problem


class NotAllowedError(ConfigError):
    """``who`` does not hold ``role``; the message names the staff file to change."""


class RefusedError(ConfigError):
    """The record would be refused by the catalogue's rules, so it is not written."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"refused ({refusal.code}): {refusal.message}")
        self.refusal = refusal
