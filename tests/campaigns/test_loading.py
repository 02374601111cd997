"""Campaign files: the shipped example loads; every mistake names the file, campaign and field."""

from pathlib import Path

import pytest

from orchestration.campaigns import CampaignConfigError, load_campaign_file
from orchestration.templates import BRAND_NAMES, PREFECTURE_NAMES, compile_template
from schemas.campaign_spec import TEMPLATE_FIELDS
from schemas.goals import UsesSelfService

EXAMPLE = Path(__file__).parents[2] / "orchestration/campaigns/examples/sms_hall_winback.toml"

GOOD = """\
version = 1

[campaign]
id = "bill-reminder"
description = "Monthly bill by SMS"
template = "【湖南移动】{brand_name}客户发送0102到10086查月账单 回复TD退订"

[campaign.audience]
prefectures = ["changsha"]

[campaign.budget]
max_messages = 100

[campaign.goal]
kind = "uses_self_service"
function = "query.monthly_bill"
"""


def _error(tmp_path: Path, text: str) -> CampaignConfigError:
    with pytest.raises(CampaignConfigError) as caught:
        load_campaign_file(_write(tmp_path, text))
    error = caught.value
    assert str(error).startswith(f"{tmp_path / 'campaign.toml'}: campaign ")
    return error


def test_the_shipped_example_loads() -> None:
    spec = load_campaign_file(EXAMPLE)
    assert spec.id == "sms-hall-winback"
    assert spec.schedule.at is not None
    assert spec.schedule.at.utcoffset() is not None
    assert isinstance(spec.goal, UsesSelfService)
    assert spec.audience.agent_contacts is not None


def test_defaults_keep_quiet_hours_a_holdout_and_no_schedule(tmp_path: Path) -> None:
    spec = load_campaign_file(_write(tmp_path, GOOD))
    assert spec.schedule.at is None
    assert spec.holdout_share == 0.1
    guardrails = spec.guardrails(spec.budget)
    assert guardrails.quiet_hours is not None
    assert guardrails.budget == spec.budget


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "field", "says"),
    [
        ('id = "bill-reminder"', 'id = "Bill Reminder"', "campaign.id", "matching regex"),
        ("[campaign.audience]", "colour = 1\n[campaign.audience]", "campaign.colour", "unknown"),
        ("max_messages = 100", "fen_per_segment = 10", "campaign.budget", "max_messages or"),
        ('prefectures = ["changsha"]', 'prefectures = ["atlantis"]',
         "campaign.audience.prefectures[0]", "one of: changsha, zhuzhou"),
        ('prefectures = ["changsha"]', 'brands = ["gotone", "vip"]',
         "campaign.audience.brands[1]", "one of: gotone, mzone, easyown, enterprise"),
        ('prefectures = ["changsha"]', 'used = [{channels = ["fax"], within_days = 7}]',
         "campaign.audience.used[0].channels[0]", "one of: ivr, sms, web, wap, kiosk, agent"),
        ('prefectures = ["changsha"]', 'not_used = [{channels = ["sms"], within_days = 0}]',
         "campaign.audience.not_used[0].within_days", ">= 1"),
        ('prefectures = ["changsha"]', "agent_contacts = {within_days = 30, min = 3, max = 1}",
         "campaign.audience.agent_contacts", "above max"),
        ("{brand_name}客户", "{msisdn}客户", "campaign.template", "unknown field {msisdn}"),
        ("回复TD退订", "", "campaign.template", "how to opt out"),
        ('function = "query.monthly_bill"', 'function = "suggested"', "campaign.goal.function",
         "name the function"),
        ('function = "query.monthly_bill"', 'function = "query.number_location"',
         "campaign.goal.function", "not an item with a self-service way"),
        ("[campaign.audience]", "holdout_share = 1.5\n[campaign.audience]",
         "campaign.holdout_share", "<= 1.0"),
        ("[campaign.budget]", "[campaign.schedule]\nat = 2026-03-03T10:00:00\n[campaign.budget]",
         "campaign.schedule.at", "timezone"),
    ],
)  # fmt: skip
def test_a_mistake_names_file_campaign_and_field(
    tmp_path: Path, old: str, new: str, field: str, says: str
) -> None:
    assert old in GOOD
    error = _error(tmp_path, GOOD.replace(old, new, 1))
    assert error.field == field
    assert says in error.problem
    assert f"field {field}: " in str(error)


def test_the_campaign_is_named_when_the_file_names_it(tmp_path: Path) -> None:
    error = _error(tmp_path, GOOD.replace("max_messages = 100", "max_messages = -1"))
    assert error.campaign == "bill-reminder"
    assert error.field == "campaign.budget.max_messages"


def test_unsupported_version_and_broken_toml(tmp_path: Path) -> None:
    assert _error(tmp_path, GOOD.replace("version = 1", "version = 2")).field == "version"
    broken = _error(tmp_path, GOOD + "\n[campaign\n")
    assert (broken.field, broken.campaign) == ("<file>", "<no id>")
    assert "TOML" in broken.problem


def test_templates_offer_exactly_brand_and_prefecture_names() -> None:
    template = compile_template("{brand_name}·{prefecture_name}", TEMPLATE_FIELDS)
    values = {"brand_name": BRAND_NAMES["mzone"], "prefecture_name": PREFECTURE_NAMES["loudi"]}
    assert template.render(values) == "动感地带·娄底"
