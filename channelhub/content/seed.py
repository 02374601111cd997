"""The texts in use when publishing began, as seed records: where every item starts.

Before the publishing process, a rule's SMS text was whatever its file said, reviewed with the
code. :func:`seed_records` turns the texts of the shipped rules
(:data:`orchestration.rules.SHIPPED_RULES_DIR`) and of the example campaigns
(:data:`EXAMPLE_CAMPAIGNS`) into version 1 of their items, published by ``system``. The fold
accepts a seed only for an item with no version yet, so a text edited in a file afterwards is
not published by seeding again: it goes through the reviews like any other change. A
deployment's own rule directory is not seeded for the same reason: its texts are drafted and
reviewed.
"""

from datetime import datetime
from pathlib import Path

import orchestration.campaigns
from orchestration.campaigns import load_campaign_file
from orchestration.content.gate import campaign_item, rule_item
from orchestration.rules import load_shipped_rules
from schemas.content import Seeded, seeded

#: The campaign files shipped as examples: their templates are seeded too.
EXAMPLE_CAMPAIGNS = Path(orchestration.campaigns.__file__).parent / "examples"


def seed_records(at: datetime) -> list[Seeded]:
    """Version 1 of every shipped rule's and example campaign's template, stamped ``at``."""
    texts = [(rule_item(rule.id), rule.spec.template) for rule in load_shipped_rules()]
    for path in sorted(EXAMPLE_CAMPAIGNS.glob("*.toml")):
        spec = load_campaign_file(path)
        texts.append((campaign_item(spec.id), spec.template))
    return [seeded(item, text, at=at) for item, text in texts]
