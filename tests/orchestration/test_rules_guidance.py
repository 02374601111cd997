"""The guidance table and the field registry agree with the catalog and the event model."""

import threading

import pytest

from channelhub.catalogue.seed import seed_records
from channelhub.simulator.catalog import (
    IVR_MENU,
    SELF_SERVICE_TOPICS,
    SMS_SERVICES,
    WAP_FUNCTIONS,
    WEB_FUNCTIONS,
)
from orchestration.catalogue import fold
from orchestration.rules import guidance
from orchestration.rules.fields import fields_for
from orchestration.rules.guidance import WAYS, way_for
from schemas.events import EVENT_TYPES
from tests.orchestration.test_catalogue import T0, retire_request, whole


@pytest.mark.parametrize(("item", "way"), WAYS.items(), ids=list(WAYS))
def test_every_way_uses_catalog_names(item: str, way) -> None:  # type: ignore[no-untyped-def]
    assert way.sms_code is None or way.sms_code in SMS_SERVICES
    assert way.web_function is None or way.web_function in WEB_FUNCTIONS
    assert way.wap_function is None or way.wap_function in WAP_FUNCTIONS


def test_every_catalog_item_has_a_row() -> None:
    menu_items = {item for branch in IVR_MENU.values() for item in branch.items.values()}
    services = {s.service for s in SMS_SERVICES.values()}
    assert menu_items | SELF_SERVICE_TOPICS | services <= set(WAYS)


def test_charges_map_to_code_0101_and_the_realtime_bill() -> None:
    way = way_for("query.realtime_charges")
    assert (way.sms_code, way.web_function, way.wap_function) == (
        "0101", "bill.realtime", "bill.realtime"
    )  # fmt: skip
    assert way.hint == "发送0101到10086，或登录网上营业厅、手机营业厅"  # noqa: RUF001
    assert not way_for("unknown").exists
    assert not way_for("sp.complaint").exists


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_has_a_consistent_field_set(event_type: str) -> None:
    fields = fields_for(event_type)  # raises on a name collision
    assert {"request_item", "service_name", "prefecture_name", "in_live_call"} <= set(fields)


def test_ways_in_a_context_leave_the_process_and_other_threads_alone() -> None:
    """A back-test's ways (:func:`guidance.in_context`) are its thread's alone, and gone on
    leaving; their versions never equal the process's (a cache key of parsed goals)."""
    retired = fold([*seed_records(T0), *whole(retire_request("query.realtime_charges", "sms"))])
    seen_elsewhere: list[str | None] = []
    with guidance.in_context() as follow:
        assert follow(retired)
        assert way_for("query.realtime_charges").sms_code is None
        assert guidance.version() < 0
        other = threading.Thread(
            target=lambda: seen_elsewhere.append(way_for("query.realtime_charges").sms_code)
        )
        other.start()
        other.join()
        assert not follow(retired)  # the same ways: no new version
    assert seen_elsewhere == ["0101"]
    assert way_for("query.realtime_charges").sms_code == "0101"
    assert guidance.version() >= 0
