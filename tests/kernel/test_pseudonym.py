"""Pseudonyms name their key, and a rotated ring carries any older pseudonym to the new key
without the number: the property ``channelhub pseudonyms rotate`` stands on."""

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.pseudonym import PSEUDONYM, Pseudonymizer
from tests.fixtures.services import local_settings

NUMBER = "13812345678"
numbers = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


def test_a_pseudonym_is_keyed_stable_and_names_its_key() -> None:
    a, b = Pseudonymizer(b"key one"), Pseudonymizer(b"key two")
    assert a(NUMBER) == a(NUMBER)
    assert a(NUMBER) != b(NUMBER)
    assert NUMBER not in a(NUMBER)
    assert PSEUDONYM.fullmatch(a(NUMBER))
    assert a(NUMBER).startswith("k1.")
    assert Pseudonymizer(b"key one", key_id=7)(NUMBER).startswith("k7.")


def test_the_first_key_is_hmac_sha256_of_the_number() -> None:
    """An independent oracle: the standard library's HMAC, not the class's own chain."""
    digest = hmac.new(b"key one", NUMBER.encode(), hashlib.sha256).hexdigest()[:32]
    assert Pseudonymizer(b"key one")(NUMBER) == f"k1.{digest}"


def test_a_later_key_is_chained_over_the_pseudonym_before_it() -> None:
    first = Pseudonymizer(b"key one")(NUMBER)
    digest = hmac.new(b"key two", first.encode(), hashlib.sha256).hexdigest()[:32]
    rotated = Pseudonymizer(b"key two", key_id=2, retired={1: b"key one"})
    assert rotated(NUMBER) == f"k2.{digest}"


@given(numbers)
def test_any_older_pseudonym_becomes_the_current_one_without_its_number(number: str) -> None:
    retired = {1: b"key one", 2: b"key two"}
    ring = Pseudonymizer(b"key three", key_id=5, retired=retired)
    one = Pseudonymizer(b"key one")(number)
    two = Pseudonymizer(b"key two", key_id=2, retired={1: b"key one"})(number)
    assert ring.current(one) == ring.current(two) == ring(number)
    assert ring.current(ring(number)) == ring(number)
    assert ring.retired_ids() == [1, 2]


def test_what_is_not_a_pseudonym_of_the_ring_has_no_current_form() -> None:
    ring = Pseudonymizer(b"key two", key_id=2, retired={1: b"key one"})
    assert ring.current(Pseudonymizer(b"other", key_id=3)(NUMBER)) is None  # unknown key
    assert ring.current("0" * 32) is None  # the form before keys had ids
    assert ring.current("msisdn:" + ring(NUMBER)) is None
    assert ring.current("") is None


def test_a_retired_key_cannot_be_newer_than_the_active_one() -> None:
    with pytest.raises(ValueError, match="below 2"):
        Pseudonymizer(b"key two", key_id=2, retired={3: b"key three"})


def test_the_ring_comes_from_the_settings() -> None:
    settings = local_settings(
        pseudonym_key="key two", pseudonym_key_id=2, pseudonym_retired_keys={1: "key one"}
    )
    expected = Pseudonymizer(b"key two", key_id=2, retired={1: b"key one"})
    assert Pseudonymizer.from_settings(settings)(NUMBER) == expected(NUMBER)


def test_settings_refuse_a_retired_key_id_above_the_active_one() -> None:
    with pytest.raises(ValueError, match="CHANNELHUB_PSEUDONYM_KEY_ID"):
        local_settings(pseudonym_key_id=1, pseudonym_retired_keys={2: "key two"})
