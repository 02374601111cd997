"""The template version travels with every nudge: from a rule bound to its published text, and
from a campaign created with one through the fan-out's chunks; and the knowledge-base check
answers for any text without raising."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from channelhub.simulator.catalog import SMS_SERVICES
from orchestration.campaigns import Audience, CampaignSpec
from orchestration.campaigns.fanout import plan
from orchestration.content import fold, knowledge
from orchestration.content.gate import bind_rule
from orchestration.journey import Journey, apply
from orchestration.rules import evaluate, load_shipped_rules
from schemas import Event
from schemas.campaign_spec import TEMPLATE_FIELDS
from schemas.campaigns import triggered
from schemas.content import seeded
from schemas.goals import NoAgentCall
from schemas.guardrails import Budget
from tests.orchestration.test_rules_evaluate import call

AT = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)


def test_a_bound_rule_s_nudges_carry_its_template_version() -> None:
    rule = next(r for r in load_shipped_rules() if r.id == "ivr.long_agent_wait")
    content = fold([seeded("rule:ivr.long_agent_wait", rule.spec.template, at=AT)])
    events = call()
    assert [n.template_version for n in evaluate([rule], events[-1], _journey(events))] == [None]
    bound = bind_rule(rule, content)
    assert [n.template_version for n in evaluate([bound], events[-1], _journey(events))] == [1]


def _journey(events: list[Event]) -> Journey:
    """The journey before the last event, folded as the stage folds it."""
    journey = Journey()
    for event in events[:-1]:
        journey = apply(journey, event)
    return journey


def test_every_chunk_of_a_campaign_carries_its_template_version() -> None:
    spec = CampaignSpec(
        id="winback", description="test", audience=Audience(), goal=NoAgentCall(within_days=7),
        template="{brand_name}客户发送0101到10086 回复TD退订", budget=Budget(max_messages=10),
    )  # fmt: skip
    members = [(f"k1.{n:032x}", n % 3) for n in range(10)]
    chunks = plan(spec, triggered("winback", scheduled_at=AT, at=AT, by="t"), members, 3,
                  template_version=4)  # fmt: skip
    assert {request.template_version for _, request in chunks} == {4}


@given(text=st.text(max_size=80), item=st.sampled_from(["rule:x", "campaign:y", "web:loudi:z"]))
def test_the_knowledge_check_answers_for_any_text(text: str, item: str) -> None:
    problems, checked = knowledge.check(item, text, fields=TEMPLATE_FIELDS, codes=SMS_SERVICES)
    assert checked.startswith("placeholders ")
    assert all(isinstance(p, str) and p for p in problems)


def test_the_knowledge_check_names_what_is_wrong() -> None:
    problems, _ = knowledge.check(
        "campaign:y", "{city}请发送0999到10086", fields=TEMPLATE_FIELDS, codes=SMS_SERVICES
    )
    assert problems[0].startswith("template refers to unknown field {city}")
    assert problems[1].startswith("SMS code 0999 is not one the SMS hall answers")
    assert problems[2].startswith("a marketing SMS must say how to opt out")
