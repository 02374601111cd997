"""The pages' names for codes and functions follow the live catalogue: the seed names them as
the static guidance table did, an opened code or function shows under its service, a retired
one still names its history; and the dashboard process's follower keeps the names it has when
the broker does not answer."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channelhub.catalogue.seed import seed_records
from channelhub.simulator import catalog
from dashboards import live_catalogue
from dashboards.service_names import STATIC, UNLISTED, names_of
from kernel.errors import ServiceError
from orchestration.catalogue import Catalogue, fold
from orchestration.rules.guidance import WAYS
from schemas.catalogue import KioskService, SmsHallCode, WebFunction
from tests.orchestration.test_catalogue import open_request, retire_request, seeded_with

AT = datetime(2026, 3, 2, tzinfo=UTC)

#: Every name an event of each channel may carry in today's catalogue, and a few it may not.
NAMES = {
    "web": [*catalog.WEB_FUNCTIONS, "bill.top_up"],
    "wap": [*catalog.WAP_FUNCTIONS, "bill.top_up"],
    "kiosk": [*catalog.KIOSK_SERVICES, "top_up.card"],
    "sms": [s.service for s in catalog.SMS_SERVICES.values()],
    "ivr": [item for branch in catalog.IVR_MENU.values() for item in branch.items.values()],
    "agent": [*WAYS, "unknown"],
}


def test_the_seed_names_everything_as_the_static_table_did() -> None:
    seeded = names_of(fold(seed_records(AT)))
    assert names_of(Catalogue()) is STATIC
    for code in catalog.SMS_SERVICES:
        assert seeded.code(code) == STATIC.code(code) != UNLISTED
    for channel, names in NAMES.items():
        for name in names:
            assert seeded.item_of(channel, name) == STATIC.item_of(channel, name), name
    assert STATIC.code("0205") == "handling.package_conversion"  # the first the table lists
    assert STATIC.code("9999") == UNLISTED


def test_an_opened_code_and_function_show_under_their_service() -> None:
    names = names_of(
        seeded_with(
            AT,
            open_request(
                "query.top_up",
                SmsHallCode(code="0107"),
                WebFunction(function="bill.top_up"),
                KioskService(function="top_up.card"),
            ),
            open_request("family.plan", SmsHallCode(code="0208")),
        )
    )
    assert names.code("0107") == "query.top_up"
    assert names.code("0208") == "family.plan"
    assert names.item_of("web", "bill.top_up") == "query.top_up"
    assert names.item_of("kiosk", "top_up.card") == "query.top_up"
    assert names.item_of("sms", "family.plan") == "family.plan"
    assert names.way("query.top_up").exists
    assert STATIC.item_of("web", "bill.top_up") is None
    assert not STATIC.way("query.top_up").exists


def test_a_retired_code_and_function_still_name_their_history() -> None:
    names = names_of(
        seeded_with(
            AT,
            retire_request("query.points", "sms", "web"),
            retire_request("handling.sms_bundle", "sms"),
        )
    )
    assert names.code("0103") == "query.points"
    assert names.item_of("web", "points.query") == "consult.points_plan"  # still open for it
    assert names.code("0205") == "handling.package_conversion"  # still open for it
    names = names_of(seeded_with(AT, retire_request("handling.ringback_tone")))
    assert names.code("0204") == "handling.ringback_tone"
    assert names.item_of("web", "service.ringback_tone") == "handling.ringback_tone"
    assert not names.way("handling.ringback_tone").exists


def _sms_services() -> list[str]:
    return sorted({s.service for s in catalog.SMS_SERVICES.values()})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_sms_services()), max_size=8, unique=True))
def test_every_code_keeps_a_name_that_had_or_has_it(retired: list[str]) -> None:
    catalogue = seeded_with(AT, *(retire_request(service, "sms") for service in retired))
    names = names_of(catalogue)
    offered = catalogue.channel("sms")
    gone = {r.slot: r.service for r in catalogue.retired() if r.channel == "sms"}
    for code in catalog.SMS_SERVICES:
        if code in offered:
            assert names.code(code) in [service for service, _ in offered[code]]
        else:
            assert names.code(code) == gone[code]


class FakeFollower:
    """Answers :meth:`refresh` with the catalogues given, or raises what is given."""

    def __init__(self, *answers: Catalogue | ServiceError) -> None:
        self.answers = list(answers)
        self.calls = 0

    def refresh(self) -> Catalogue:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, ServiceError):
            raise answer
        return answer


def test_the_dashboards_follower_keeps_its_names_when_the_broker_is_gone() -> None:
    opened = seeded_with(AT, open_request("query.top_up", SmsHallCode(code="0107")))
    fake = FakeFollower(ServiceError("no broker"), opened, ServiceError("gone again"))
    followed = live_catalogue._Followed(fake, every_seconds=0.0)  # type: ignore[arg-type]
    assert followed.current() is STATIC
    assert followed.current().code("0107") == "query.top_up"
    assert followed.current().code("0107") == "query.top_up"
    assert fake.calls == 3


def test_the_dashboards_follower_reads_at_most_every_reload_period() -> None:
    fake = FakeFollower(fold(seed_records(AT)))
    followed = live_catalogue._Followed(fake, every_seconds=3600.0)  # type: ignore[arg-type]
    first = followed.current()
    assert followed.current() is first
    assert fake.calls == 1


@pytest.mark.parametrize("channel", ["ivr", "agent", "sms"])
def test_a_name_no_one_knows_is_no_item(channel: str) -> None:
    assert STATIC.item_of(channel, "nothing.known") is None
