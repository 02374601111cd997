"""The simulator follows the live catalogue. The SMS hall: the seed is today's hall, a retired
code and its keywords are answered as unknown (with the help text) while customers keep
sending them, an opened code is matched and served, and for any text and any retirements the
hall matches only what is open. The IVR: retired keys send the caller to an agent."""

import itertools
from datetime import UTC, datetime

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from channelhub.catalogue.seed import seed_records
from channelhub.simulator import catalog
from channelhub.simulator.engine import Engine, Scenario
from channelhub.simulator.sms import STATIC, Offer, match
from orchestration.catalogue import Catalogue, fold
from schemas.catalogue import SmsHallCode
from tests.orchestration.test_catalogue import open_request, retire_request, seeded_with

AT = datetime(2026, 3, 2, tzinfo=UTC)
START_MS = int(datetime(2026, 3, 2, 2, 0, tzinfo=UTC).timestamp() * 1000)  # 10:00 in Hunan


def test_the_seed_is_todays_hall_and_an_unseeded_catalogue_keeps_it() -> None:
    assert Offer.of(fold(seed_records(AT))) == STATIC
    assert Offer.of(Catalogue()) is STATIC


def test_a_retired_code_and_its_keywords_match_nothing() -> None:
    offer = Offer.of(seeded_with(AT, retire_request("query.points", "sms")))
    for text in ("0103", "JF", "jf", "查积分"):
        assert match(text, offer) == (None, "unknown"), text
    assert match("0101", offer) == ("0101", "exact")
    assert match("HF", offer) == ("0101", "fuzzy")


def test_an_opened_code_is_matched_by_code_and_keyword() -> None:
    opened = open_request("query.top_up", SmsHallCode(code="0107", keywords=("CZ", "充值")))
    offer = Offer.of(seeded_with(AT, opened))
    assert match("0107", offer) == ("0107", "exact")
    assert match("cz", offer) == ("0107", "fuzzy")
    assert match("我要充值", offer) == ("0107", "fuzzy")
    assert offer.services["0107"].service == "query.top_up"


def _messages(offer: Offer, events: int = 6000) -> list[dict[str, object]]:
    engine = Engine(Scenario(seed=3, start_ms=START_MS, subscribers=2000))
    engine.sms.offer = offer
    found = []
    for item in itertools.islice(engine, events):
        if item.label.startswith("sms."):
            found.append(msgspec.json.decode(item.payload))
    return found


def test_customers_still_send_a_retired_code_and_the_hall_refuses_it() -> None:
    offer = Offer.of(seeded_with(AT, retire_request("query.points", "sms")))
    sms = _messages(offer)
    sent = [e for e in sms if e["event_type"] == "sms.message_received"
            and e["attributes"]["text"] == "0103"]  # type: ignore[index]  # fmt: skip
    assert sent  # by habit
    assert all(e["attributes"]["match_kind"] == "unknown" for e in sent)  # type: ignore[index]
    served = [e for e in sms if e["event_type"] == "sms.service_completed"]
    assert served
    assert all(e["attributes"]["code"] != "0103" for e in served)  # type: ignore[index]
    opened = Offer.of(seeded_with(AT, open_request("query.top_up", SmsHallCode(code="0107"))))
    codes = {e["attributes"]["code"] for e in _messages(opened)  # type: ignore[index]
             if e["event_type"] == "sms.service_completed"}  # fmt: skip
    assert "0107" in codes


def _sms_services() -> list[str]:
    return sorted({s.service for s in catalog.SMS_SERVICES.values()})


TEXTS = st.one_of(
    st.sampled_from([*catalog.SMS_SERVICES, *catalog.SMS_FUZZY_TEXTS, *catalog.SMS_UNKNOWN_TEXTS]),
    st.text(max_size=20),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(_sms_services()), max_size=6, unique=True), TEXTS)
def test_the_hall_matches_only_what_is_open(retired: list[str], text: str) -> None:
    catalogue = seeded_with(AT, *(retire_request(service, "sms") for service in retired))
    offer = Offer.of(catalogue)
    code, kind = match(text, offer)
    assert (code is None) == (kind in ("unknown", "menu"))
    if code is not None:
        assert code in catalogue.channel("sms")
    if not retired:
        assert (code, kind) == match(text)


def test_callers_pressing_retired_keys_are_sent_to_an_agent() -> None:
    engine = Engine(Scenario(seed=5, start_ms=START_MS, subscribers=2000))
    engine.ivr.removed = frozenset({"1-1"})
    by_call: dict[str, list[dict[str, object]]] = {}
    for item in itertools.islice(engine, 8000):
        if item.label.startswith("ivr."):
            event = msgspec.json.decode(item.payload)
            by_call.setdefault(event["session_id"], []).append(event)
    pressed = [
        events for events in by_call.values()
        if any(e["attributes"].get("key_path") == "1-1" for e in events)  # type: ignore[attr-defined]
    ]  # fmt: skip
    assert pressed
    for events in pressed:
        kinds = [e["event_type"] for e in events]
        assert "ivr.self_service_completed" not in kinds
        assert "ivr.agent_requested" in kinds
