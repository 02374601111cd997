"""Opt-out replies: the fuzzy ways people type TD, and the texts that must not opt anyone out."""

from datetime import UTC, datetime

import pytest

from orchestration.guardrails import (
    ALL,
    GuardrailSettings,
    OptOut,
    SubscriberState,
    is_opted_out,
    parse_opt_out,
    record_opt_out,
)

AT = datetime(2025, 3, 10, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("TD", ALL),
        ("td", ALL),
        ("Td", ALL),
        ("T D", ALL),
        ("  td\n", ALL),
        ("T.D.", ALL),
        ("TD!", ALL),
        ("TD。", ALL),
        ("“TD”", ALL),
        ("\uff34\uff24", ALL),  # full-width upper-case TD
        ("\uff54\uff44", ALL),  # full-width lower-case td
        ("TD\u3000", ALL),  # ideographic space
        ("TD😡", ALL),
        ("退订", ALL),
        ("退 订", ALL),
        ("请退订", ALL),
        ("TD退订", ALL),
        ("退订TD", ALL),
        ("TD0101", "0101"),
        ("td 0101", "0101"),
        ("TD-0101", "0101"),
        ("退订0204", "0204"),
        ("\uff34\uff24\uff10\uff11\uff10\uff11", "0101"),  # full-width TD0101
        ("TD12345678", "12345678"),
    ],
)
def test_opt_out_variants_are_recognised(text: str, scope: str) -> None:
    assert parse_opt_out(text) == OptOut(scope=scope)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "today",  # td inside a word
        "LTD",
        "std",
        "I'll do it today",
        "hello td",  # a reply that mentions td is not the command
        "TDK",  # letter suffix: the code space is numeric, so this is something else
        "TDKT",
        "TD123456789",  # longer than any service code
        "怎么退订",  # a question: the SMS hall answers it with its unsubscription guide
        "退订谢谢",
        "0000",  # the SMS hall's SP unsubscription query, not a nudge opt-out
        "HF",
        "KT",  # "activate" in the SMS hall; no opt-in is modelled
        "T",
        "D",
    ],
)
def test_other_texts_are_not_opt_outs(text: str) -> None:
    assert parse_opt_out(text) is None


def test_recording_keeps_the_first_opt_out_time() -> None:
    later = datetime(2025, 3, 11, tzinfo=UTC)
    state = record_opt_out(SubscriberState(), OptOut(scope=ALL), AT)
    assert record_opt_out(state, OptOut(scope=ALL), later) is state
    assert state.opt_outs == {ALL: int(AT.timestamp())}


@pytest.mark.parametrize(
    ("scope", "codes", "expected"),
    [
        (ALL, (), True),
        (ALL, ("0101",), True),
        ("0101", ("0101",), True),
        ("0101", ("0102", "0101"), True),
        ("0101", ("0102",), False),
        ("0101", (), False),
    ],
)
def test_scoped_opt_out_stops_only_rules_listing_the_code(
    scope: str, codes: tuple[str, ...], expected: bool
) -> None:
    state = record_opt_out(SubscriberState(), OptOut(scope=scope), AT)
    assert is_opted_out(state, GuardrailSettings(opt_out_codes=codes)) is expected


def test_nobody_is_opted_out_by_default() -> None:
    assert not is_opted_out(SubscriberState(), GuardrailSettings(opt_out_codes=("0101",)))
