"""The audience query is built from constant SQL: filter values only ever travel as parameters."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from kernel.errors import ConfigError
from orchestration.campaigns import AgentContacts, Audience, AudienceError, ChannelUse
from orchestration.campaigns.audience import members_query

AS_OF = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)

EVERYTHING = Audience(
    prefectures=("changsha", "xiangxi"),
    brands=("mzone",),
    used=(ChannelUse(channels=("sms", "wap"), within_days=90),),
    not_used=(
        ChannelUse(channels=("sms",), within_days=30),
        ChannelUse(channels=("kiosk",), within_days=7),
    ),
    agent_contacts=AgentContacts(within_days=14, min=2, max=5),
)


def test_every_value_is_a_parameter_and_none_is_in_the_sql() -> None:
    sql, params = members_query("channelhub", EVERYTHING, AS_OF)
    for value in ("changsha", "xiangxi", "mzone", "sms", "wap", "kiosk", "agent.request_handled",
                  "'*'", str(int(AS_OF.timestamp()))):  # fmt: skip
        assert value not in sql
    assert set(re.findall(r"%\((\w+)\)s", sql)) == set(params)
    assert params["prefectures"] == ("changsha", "xiangxi")
    assert params["used_0_channels"] == ("sms", "wap")
    assert params["not_used_1_channels"] == ("kiosk",)
    assert (params["agent_min"], params["agent_max"]) == (2, 5)
    assert params["opted_out_of"] == "*"


def test_windows_count_back_from_the_as_of_time() -> None:
    _, params = members_query("channelhub", EVERYTHING, AS_OF)
    assert params["as_of"] == int(AS_OF.timestamp())
    assert params["used_0_since"] == int((AS_OF - timedelta(days=90)).timestamp())
    assert params["not_used_1_since"] == int((AS_OF - timedelta(days=7)).timestamp())
    assert params["agent_since"] == int((AS_OF - timedelta(days=14)).timestamp())


def test_an_empty_audience_is_everyone_not_opted_out() -> None:
    sql, params = members_query("channelhub", Audience(), AS_OF)
    assert set(params) == {"as_of", "opted_out_of"}
    assert "opt_outs" in sql
    assert "WHERE 1" in sql


@pytest.mark.parametrize(
    ("audience", "field"),
    [
        (Audience(prefectures=("changsha", "x') OR 1=1 --")), "prefectures[1]"),
        (Audience(brands=("gotone'; DROP TABLE events; --",)), "brands[0]"),
        (Audience(used=(ChannelUse(channels=("sms) OR (1", ), within_days=3),)),
         "used[0].channels[0]"),
        (Audience(not_used=(ChannelUse(channels=("Sms",), within_days=3),)),
         "not_used[0].channels[0]"),
    ],
)  # fmt: skip
def test_a_value_outside_its_vocabulary_is_refused_naming_field_and_choices(
    audience: Audience, field: str
) -> None:
    with pytest.raises(AudienceError) as caught:
        members_query("channelhub", audience, AS_OF)
    assert caught.value.field == field
    assert "one of: " in caught.value.problem


def test_the_database_name_and_as_of_are_checked() -> None:
    with pytest.raises(ConfigError, match="plain identifier"):
        members_query("channelhub.events; DROP", Audience(), AS_OF)
    with pytest.raises(ConfigError, match="UTC offset"):
        members_query("channelhub", Audience(), AS_OF.replace(tzinfo=None))
