"""Only published texts go out: a rule's or a campaign's template against the content items.

A rule's template is content item ``rule:<rule id>``, a campaign's ``campaign:<campaign id>``.
The template a rule or campaign file holds must be the text of a published version of its
item, and that version's number travels on every nudge request (``template_version``). A text
no published version has is refused where rules are loaded (the nudge stage's rule directory,
with the reload's rule: the rule's previous version keeps running) and where campaigns are
created, with a message that says how to publish it.

Publishing is in force once ``channel.content`` holds a record (``channelhub content seed``
starts it): before, on a topic nobody has written, templates are not checked and nudges carry
no version, so a platform that has not begun publishing runs as it did.
"""

import dataclasses
from collections.abc import Callable

from orchestration.campaigns.errors import CampaignConfigError
from orchestration.content.fold import Content
from orchestration.rules.compile import Rule
from orchestration.rules.errors import RuleConfigError


def rule_item(rule_id: str) -> str:
    return f"rule:{rule_id}"


def campaign_item(campaign_id: str) -> str:
    return f"campaign:{campaign_id}"


def unpublished(item: str) -> str:
    """The one-line problem of a text no published version of ``item`` has."""
    return (
        f"this text is not a published version of {item}; publish it through "
        f"`channelhub content draft {item} TEXT` and its four reviews (`channelhub content "
        f"show {item}` lists the published versions)"
    )


def bind_rule(rule: Rule, content: Content) -> Rule:
    """``rule`` with the version of its published template; :class:`RuleConfigError` if its
    text is not published."""
    item = rule_item(rule.id)
    version = content.published_version(item, rule.spec.template)
    if version is None:
        raise RuleConfigError(rule.source, rule.id, "rule.template", unpublished(item))
    return dataclasses.replace(rule, template_version=version)


def campaign_version(campaign_id: str, template: str, content: Content) -> int | None:
    """The published version of a campaign's template; None while publishing is not in force;
    :class:`CampaignConfigError` if its text is not published."""
    if not content.items:
        return None
    item = campaign_item(campaign_id)
    version = content.published_version(item, template)
    if version is None:
        raise CampaignConfigError(f"campaign {campaign_id}", campaign_id, "campaign.template",
                                  unpublished(item))  # fmt: skip
    return version


def binder(content: Content) -> Callable[[Rule], Rule] | None:
    """How the rule loader binds each rule to ``content``; None while publishing is not in
    force (no record on the topic)."""
    if not content.items:
        return None
    return lambda rule: bind_rule(rule, content)
