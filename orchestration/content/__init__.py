"""Publishing content: every text customers read goes through the deck's four reviews.

    fold(events) -> Content                 every item's versions, reviews and refusals
    Content.judge(event) -> Refusal|None    what apply would decide, changing nothing
    knowledge.check(item, text, ...)        the service centre's knowledge-base check
    gate.bind_rule(rule, content)           a rule with its published template's version

The records are :mod:`schemas.content`; the steps and their roles
:mod:`orchestration.content.workflow`; who holds which role is the catalogue's staff file
(:mod:`orchestration.catalogue.staff`). The I/O (reading the topic, writing records, seeding
the texts in use) is :mod:`channelhub.content`.
"""

from orchestration.content.errors import KnowledgeCheckError, RefusedError
from orchestration.content.fold import Content, Item, Refusal, RefusalCode, Version, fold
from orchestration.content.workflow import DRAFTER, STEPS, role_for

__all__ = [
    "DRAFTER",
    "STEPS",
    "Content",
    "Item",
    "KnowledgeCheckError",
    "Refusal",
    "RefusalCode",
    "RefusedError",
    "Version",
    "fold",
    "role_for",
]
