"""The SMS hall: its matching rules, long SMS, and dialogues in the sample."""

from typing import Any

import pytest

from channelhub.simulator.catalog import SMS_FUZZY_TEXTS, SMS_SERVICES, SMS_UNKNOWN_TEXTS
from channelhub.simulator.sms import match, reply
from schemas.events import ReplySent


@pytest.mark.parametrize("code", list(SMS_SERVICES))
def test_codes_match_exactly(code: str) -> None:
    assert match(code) == (code, "exact")


@pytest.mark.parametrize(
    ("text", "code"), [("HF", "0101"), ("hf", "0101"), ("查一下话费", "0101"), ("开通彩铃", "0204")]
)
def test_keywords_match_fuzzily(text: str, code: str) -> None:
    assert match(text) == (code, "fuzzy")


def test_every_fuzzy_text_matches_and_no_unknown_text_does() -> None:
    assert all(match(text)[1] == "fuzzy" for text in SMS_FUZZY_TEXTS)
    assert all(match(text) == (None, "unknown") for text in SMS_UNKNOWN_TEXTS)
    assert match("10086") == (None, "menu")


def test_replies_over_70_characters_are_one_long_sms() -> None:
    assert reply(70) == ReplySent(segments=1, characters=70, long_sms=False)
    assert reply(71).long_sms
    assert reply(71).segments == 2
    assert reply(200).segments == 3


def test_charged_services_are_confirmed_first(sessions: dict[str, list[dict[str, Any]]]) -> None:
    confirmed = 0
    for session in sessions.values():
        types = [e["event_type"] for e in session]
        if "sms.confirmation_requested" not in types:
            continue
        asked = types.index("sms.confirmation_requested")
        assert "sms.service_completed" not in types[:asked]
        replies = [e for e in session if e["event_type"] == "sms.confirmation_replied"]
        assert len(replies) == 1
        completed = "sms.service_completed" in types
        assert completed == (replies[0]["attributes"]["reply"] == "yes")
        confirmed += 1
    assert confirmed > 100


def test_menu_dialogues_walk_to_a_code(sessions: dict[str, list[dict[str, Any]]]) -> None:
    walked = 0
    for session in sessions.values():
        texts = [e["attributes"] for e in session if e["event_type"] == "sms.message_received"]
        if len(texts) == 3:
            assert texts[0]["text"] == "10086"
            assert texts[0]["match_kind"] == "menu"
            code = texts[2]["matched_code"]
            assert code == f"0{texts[1]['text']}{int(texts[2]['text']):02d}"
            walked += 1
    assert walked > 50
