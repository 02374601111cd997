"""The gate between published content and what is sent: rules bound to the version of their
text, refused (with how to publish it) when it has none, and nothing checked before
publishing is in force."""

from datetime import UTC, datetime

import pytest

from orchestration.campaigns import CampaignConfigError
from orchestration.content import fold
from orchestration.content.gate import bind_rule, binder, campaign_version
from orchestration.rules import RuleConfigError, load_rules, load_shipped_rules
from orchestration.rules.loader import SHIPPED_RULES_DIR
from schemas.content import seeded

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def test_before_publishing_is_in_force_nothing_is_checked() -> None:
    assert binder(fold([])) is None
    assert campaign_version("spring", "任何文本", fold([])) is None


def test_a_rule_runs_with_the_version_of_its_published_text() -> None:
    rule = next(r for r in load_shipped_rules() if r.id == "ivr.long_agent_wait")
    content = fold([seeded("rule:ivr.long_agent_wait", rule.spec.template, at=T0)])
    assert bind_rule(rule, content).template_version == 1
    bind = binder(content)
    assert bind is not None
    rules, errors = load_rules(SHIPPED_RULES_DIR, bind)
    assert [r.id for r in rules] == ["ivr.long_agent_wait"]
    assert {e.rule for e in errors} == {r.id for r in load_shipped_rules()} - {rule.id}
    message = str(errors[0])
    assert "rule.template: this text is not a published version of rule:" in message
    assert "publish it through `channelhub content draft" in message
    with pytest.raises(RuleConfigError, match="not a published version"):
        bind_rule(rule, fold([seeded("rule:ivr.long_agent_wait", "旧文本", at=T0)]))


def test_a_campaign_s_text_must_be_published_once_publishing_is_in_force() -> None:
    content = fold([seeded("campaign:spring", "春季 回复TD退订", at=T0)])
    assert campaign_version("spring", "春季 回复TD退订", content) == 1
    with pytest.raises(CampaignConfigError, match=r"campaign:autumn; publish it through"):
        campaign_version("autumn", "秋季 回复TD退订", content)
