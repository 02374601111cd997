"""The errors of publishing content, each one line an operator can act on.

ConfigError (kernel.errors)
├── RefusedError         the publishing rules refuse the record: carries the fold's Refusal
└── KnowledgeCheckError  the text fails the service centre's knowledge-base check

Who may take a step is checked with the catalogue's staff file
(:class:`orchestration.catalogue.NotAllowedError`).
"""

from kernel.errors import ConfigError
from orchestration.content.fold import Refusal


class RefusedError(ConfigError):
    """The record would be refused by the publishing rules, so it is not written."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"refused ({refusal.code}): {refusal.message}")
        self.refusal = refusal


class KnowledgeCheckError(ConfigError):
    """The version's text fails the knowledge-base check; reject it instead."""
