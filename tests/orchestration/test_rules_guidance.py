"""The guidance table and the field registry agree with the catalog and the event model."""

import pytest

from channelhub.simulator.catalog import (
    IVR_MENU,
    SELF_SERVICE_TOPICS,
    SMS_SERVICES,
    WAP_FUNCTIONS,
    WEB_FUNCTIONS,
)
from orchestration.rules.fields import fields_for
from orchestration.rules.guidance import WAYS, way_for
from schemas.events import EVENT_TYPES


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
