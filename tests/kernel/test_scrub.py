"""The number scrubber: every written form of a subscriber number goes, nothing else does."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.pseudonym import Pseudonymizer
from kernel.scrub import scrub

NUMBER = "13812345678"


def _token(number: str) -> str:
    """A pseudonym with no digits, so a test can look for digits the scrubber left."""
    return "P" + "".join("abcdefghij"[int(d)] for d in number)


TOKEN = "msisdn:" + _token(NUMBER)

#: ASCII digits, plus, minus and space to their full-width forms (U+FF10-FF19, FF0B, FF0D,
#: U+3000), as a Chinese input method types them.
_FULL_WIDTH = str.maketrans(
    {**{str(d): chr(0xFF10 + d) for d in range(10)}, "+": "\uff0b", "-": "\uff0d", " ": "\u3000"}
)


def full(text: str) -> str:
    return text.translate(_FULL_WIDTH)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", TOKEN),
        ("帮我查+86 138 1234 5678的话费", f"帮我查{TOKEN}的话费"),
        ("0086-138-1234-5678", TOKEN),
        ("86 138 1234 5678", TOKEN),
        ("8613812345678", TOKEN),
        ("m²13812345678", f"m²{TOKEN}"),  # a superscript is no digit of the number
        ("013812345678", TOKEN),  # dialled from a landline in another city
        ("0 138 1234 5678", TOKEN),
        ("138.1234.5678", TOKEN),
        (full("13812345678"), TOKEN),
        (full("+86 138-1234-5678"), TOKEN),
        ("1 3 8 1 2 3 4 5 6 7 8", TOKEN),
        ("(+86) 138-1234-5678 call me", f"({TOKEN} call me"),
        ("tel:13812345678.", f"tel:{TOKEN}."),
        ("".join(chr(0x0660 + int(d)) for d in NUMBER), TOKEN),  # Arabic-Indic digits
        (json.dumps({"text": full("13812345678")}), json.dumps({"text": TOKEN})),
        (
            '{"t": "' + "".join(f"\\u{ord(d):04x}" for d in NUMBER) + '"}',
            f'{{"t": "{TOKEN}"}}',
        ),
        # JSON of the text \u13812345678: an escaped backslash, then the number as it is
        ('{"t": "\\\\u13812345678"}', f'{{"t": "\\\\u{TOKEN}"}}'),
        ("13812345678 and 15900001111", f"{TOKEN} and msisdn:{_token('15900001111')}"),
        (f"k1.{'1' * 32} 13812345678", f"k1.{'1' * 32} {TOKEN}"),  # a bare pseudonym stays
    ],
)
def test_each_written_form_becomes_the_token_of_the_plain_number(text: str, expected: str) -> None:
    assert scrub(text, _token) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 2024013812345678",  # part of a longer number
        "12345678901",  # not a mobile prefix
        "1381234567",  # ten digits
        "138123456789",  # twelve digits
        "card 6222 0213 8123 4567 8",  # separators do not make a number out of a card
        "2026-11-27 13:45:01.123",
        "01900000-0000-7013-8123-456780000003",  # an event id, hex digits and dashes
        "nudge 9eb4433f06ec002e13812345678d9b27",  # a 32-hex id whose digits look like one
        "1381234567813812345678",  # two numbers run together are one long number
        "TD 5",
        "",
    ],
)
def test_what_is_no_subscriber_number_is_left_as_it_is(text: str) -> None:
    assert scrub(text, _token) == text


def test_the_token_is_the_pseudonym_an_msisdn_column_holds() -> None:
    pseudonymize = Pseudonymizer(b"key")
    assert scrub("+86 138-1234-5678", pseudonymize) == "msisdn:" + pseudonymize(NUMBER)


WRITTEN_DIGIT = st.sampled_from(["ascii", "full", "escape", "full_escape"])
SEPARATOR = st.sampled_from(["", "", " ", "-", ".", full(" "), full("-"), "\u2013", " - "])
PREFIX = st.sampled_from(["", "+86", "0086", "86", "+86 ", "0086-", full("+86 "), "(+86) "])
PLAIN = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Nd", "No", "Nl")).filter(
        lambda c: c not in "\\" and not c.isdigit()
    ),
    max_size=20,
)


def _write(digit: str, how: str) -> str:
    full_width = full(digit)
    return {
        "ascii": digit,
        "full": full_width,
        "escape": f"\\u{ord(digit):04x}",
        "full_escape": f"\\u{ord(full_width):04x}",
    }[how]


@given(
    number=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    prefix=PREFIX,
    forms=st.lists(WRITTEN_DIGIT, min_size=11, max_size=11),
    separators=st.lists(SEPARATOR, min_size=10, max_size=10),
    before=PLAIN,
    after=PLAIN,
)
def test_no_digit_of_a_number_survives_however_it_is_written(
    number: str, prefix: str, forms: list[str], separators: list[str], before: str, after: str
) -> None:
    written = _write(number[0], forms[0]) + "".join(
        sep + _write(d, how) for d, how, sep in zip(number[1:], forms[1:], separators, strict=True)
    )
    text = f"{before} {prefix}{written} {after}"
    scrubbed = scrub(text, _token)
    assert "msisdn:" + _token(number) in scrubbed
    assert not any(c.isdigit() for c in scrubbed)


@given(st.text())
def test_any_text_gives_text_and_scrubbing_twice_changes_nothing_more(text: str) -> None:
    once = scrub(text, _token)
    assert isinstance(once, str)
    assert scrub(once, _token) == once


@given(number=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), key=st.binary(max_size=8))
def test_a_real_pseudonym_is_never_taken_for_a_number(number: str, key: bytes) -> None:
    """Its 32 hex characters can hold a run that looks like a number; the token is kept whole."""
    pseudonymize = Pseudonymizer(key)
    once = scrub(f"call {number} now", pseudonymize)
    assert once == f"call msisdn:{pseudonymize(number)} now"
    assert scrub(once, pseudonymize) == once
