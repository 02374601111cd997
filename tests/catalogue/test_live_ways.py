"""The rules' self-service ways follow the live catalogue: the seed gives the static table back,
a retired SMS code or hall function leaves every hint and goal, an opened one joins them; and,
for any retirements, no way points to anything the catalogue does not hold open."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channelhub.catalogue.seed import seed_records
from orchestration.catalogue import Catalogue, fold
from orchestration.conversions import goal_functions, parse_goal
from orchestration.rules import guidance
from orchestration.rules.guidance import WAYS, way_for, ways_in
from schemas.catalogue import SmsHallCode, WebFunction, channel_of
from tests.orchestration.test_catalogue import open_request, retire_request, seeded_with
from tests.orchestration.test_rules_evaluate import LONG, NEXT_TIME, call, fired, handled, run

AT = datetime(2026, 3, 2, tzinfo=UTC)
SEEDED = fold(seed_records(AT))


@pytest.fixture(autouse=True)
def _static_again() -> Iterator[None]:
    """Each test starts, and leaves the process, on the static table."""
    guidance.follow(Catalogue())
    yield
    guidance.follow(Catalogue())


def test_the_seed_gives_the_static_table_back() -> None:
    assert ways_in(SEEDED) == WAYS
    assert guidance.follow(SEEDED) is False  # nothing changed, nothing cached is dropped


def test_an_unseeded_catalogue_leaves_the_static_table_in_force() -> None:
    nothing_but_a_request = fold([open_request("query.top_up", SmsHallCode(code="0107"))])
    assert not nothing_but_a_request.seeded
    guidance.follow(nothing_but_a_request)
    assert way_for("query.realtime_charges") == WAYS["query.realtime_charges"]


def test_a_retired_sms_code_leaves_the_hint_the_rules_send() -> None:
    assert "发送0101到10086" in _long_wait_text()
    before = guidance.version()
    assert guidance.follow(seeded_with(AT, retire_request("query.realtime_charges", "sms")))
    assert guidance.version() == before + 1
    way = way_for("query.realtime_charges")
    assert way.sms_code is None
    assert way.hint == "登录网上营业厅、手机营业厅"
    assert "0101" not in _long_wait_text()
    assert "登录网上营业厅、手机营业厅" in _long_wait_text()


def _long_wait_text() -> str:
    (request,) = [r for r in run(call()) if r.rule_id == LONG]
    return request.text


def test_rules_stop_suggesting_a_service_retired_everywhere_and_start_on_an_opened_one() -> None:
    assert LONG in fired(call(item="query.monthly_bill"))
    assert NEXT_TIME in fired(handled(topic="query.monthly_bill"))
    assert LONG not in fired(call(item="query.top_up"))
    guidance.follow(
        seeded_with(
            AT,
            retire_request("query.monthly_bill"),
            open_request("query.top_up", SmsHallCode(code="0107", keywords=("CZ",))),
        )
    )
    assert LONG not in fired(call(item="query.monthly_bill"))
    assert NEXT_TIME not in fired(handled(topic="query.monthly_bill"))
    assert LONG in fired(call(item="query.top_up"))
    assert NEXT_TIME in fired(handled(topic="query.top_up"))


def test_a_service_retired_everywhere_has_no_way_and_its_goal_no_hall_function() -> None:
    guidance.follow(seeded_with(AT, retire_request("query.call_details")))
    assert not way_for("query.call_details").exists
    assert "web:bill.call_details" not in goal_functions("query.call_details")
    parsed = parse_goal("uses_self_service:query.call_details:24h")
    assert parsed is not None
    assert "web:bill.call_details" not in parsed.functions


def test_an_opened_way_is_suggested_and_counts_as_the_goal() -> None:
    assert not way_for("query.top_up").exists
    goal = "uses_self_service:query.top_up:24h"
    assert parse_goal(goal) == parse_goal(goal)  # cached under the static table
    guidance.follow(
        seeded_with(AT, open_request("query.top_up", SmsHallCode(code="0107", keywords=("CZ",)),
                           WebFunction(function="bill.top_up")))
    )  # fmt: skip
    way = way_for("query.top_up")
    assert (way.name, way.sms_code, way.web_function) == ("充值缴费", "0107", "bill.top_up")
    assert way.hint.startswith("发送0107到10086")
    parsed = parse_goal(goal)
    assert parsed is not None
    assert "web:bill.top_up" in parsed.functions


def test_a_newly_opened_service_is_an_item_with_its_way() -> None:
    guidance.follow(seeded_with(AT, open_request("handling.family_plan", SmsHallCode(code="0207"))))
    assert way_for("handling.family_plan").sms_code == "0207"


def _entries() -> list[tuple[str, str]]:
    """(service, channel) of every entry the seed opens for an item of the static table."""
    return sorted({(item, channel_of(e)) for item in WAYS for e in SEEDED.entries(item)})


FIELDS = {"sms": "sms_code", "web": "web_function", "wap": "wap_function"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_entries()), max_size=12, unique=True))
def test_a_way_is_what_is_open_and_nothing_retired(retired: list[tuple[str, str]]) -> None:
    catalogue = seeded_with(AT, *(retire_request(service, channel) for service, channel in retired))
    ways = ways_in(catalogue)
    assert set(ways) == set(WAYS)
    for item, way in ways.items():
        for channel, field in FIELDS.items():
            slot = getattr(way, field)
            expected = None if (item, channel) in retired else getattr(WAYS[item], field)
            assert slot == expected, (item, channel)
