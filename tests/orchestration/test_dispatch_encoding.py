"""GSM-7 / UCS-2 choice, part sizes, UDH, and characters that must not be split."""

import pytest

from orchestration.dispatch.encoding import (
    DATA_CODING_GSM7,
    DATA_CODING_UCS2,
    SmsTooLongError,
    concat_reference,
    decode_gsm7,
    encode_sms,
)


def bodies(parts: list[bytes]) -> list[bytes]:
    return [part[6:] for part in parts]


@pytest.mark.parametrize(
    ("text", "coding", "segments", "characters"),
    [
        ("", DATA_CODING_GSM7, 1, 0),
        ("a" * 160, DATA_CODING_GSM7, 1, 160),
        ("a" * 161, DATA_CODING_GSM7, 2, 161),
        ("a" * 306, DATA_CODING_GSM7, 2, 306),
        ("a" * 307, DATA_CODING_GSM7, 3, 307),
        ("€" * 80, DATA_CODING_GSM7, 1, 160),  # escape + septet: counts double
        ("€" * 81, DATA_CODING_GSM7, 2, 162),
        ("余" * 70, DATA_CODING_UCS2, 1, 70),
        ("余" * 71, DATA_CODING_UCS2, 2, 71),
        ("余" * 150, DATA_CODING_UCS2, 3, 150),
        ("a" * 159 + "余", DATA_CODING_UCS2, 3, 160),  # one Chinese character: all UCS-2
        ("😀" * 35, DATA_CODING_UCS2, 1, 70),  # surrogate pairs: two units each
        ("😀" * 36, DATA_CODING_UCS2, 2, 72),
    ],
)
def test_coding_and_segments(text: str, coding: int, segments: int, characters: int) -> None:
    encoded = encode_sms(text, "nudge-1")
    assert (encoded.data_coding, encoded.segments, encoded.characters) == (
        coding,
        segments,
        characters,
    )
    assert len(encoded.parts) == segments


def test_single_part_has_no_udh() -> None:
    encoded = encode_sms("您的话费余额为 12.5 元。", "n")
    assert not encoded.has_udh
    assert encoded.parts == ["您的话费余额为 12.5 元。".encode("utf-16-be")]


def test_concatenated_parts_carry_udh_and_reassemble() -> None:
    text = "".join(chr(0x4E00 + i) for i in range(150))
    encoded = encode_sms(text, "nudge-42")
    ref = concat_reference("nudge-42")
    assert [part[:6] for part in encoded.parts] == [
        bytes([0x05, 0x00, 0x03, ref, 3, seq]) for seq in (1, 2, 3)
    ]
    assert [len(body) for body in bodies(encoded.parts)] == [134, 134, 32]  # 67, 67, 16 chars
    assert b"".join(bodies(encoded.parts)).decode("utf-16-be") == text


def test_reference_is_stable_per_nudge() -> None:
    text = "余" * 100
    assert encode_sms(text, "a").parts == encode_sms(text, "a").parts
    assert concat_reference("a") == concat_reference("a")
    assert {concat_reference(f"n{i}") for i in range(50)} != {concat_reference("n0")}


def test_gsm7_part_limit_and_escape_not_split() -> None:
    text = "a" * 152 + "€" + "b" * 10
    body1, body2 = bodies(encode_sms(text, "n").parts)
    assert len(body1) == 152  # the escape pair would make 154 > 153: it moves whole
    assert body2.startswith(b"\x1b\x65")
    assert decode_gsm7(body1 + body2) == text


def test_surrogate_pair_not_split() -> None:
    text = "好" * 66 + "😀" + "好" * 10
    body1, body2 = bodies(encode_sms(text, "n").parts)
    assert len(body1) == 132  # 66 units; the pair would need units 67 and 68
    assert body1.decode("utf-16-be") + body2.decode("utf-16-be") == text


def test_gsm7_round_trip_of_the_whole_alphabet() -> None:
    text = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà^{}\\[~]|€"
    encoded = encode_sms(text, "n")
    assert encoded.data_coding == DATA_CODING_GSM7
    assert decode_gsm7(encoded.parts[0]) == text


def test_too_long_is_refused_with_the_count() -> None:
    with pytest.raises(SmsTooLongError, match=r"needs 256 SMS parts"):
        encode_sms("余" * 67 * 256, "n")
