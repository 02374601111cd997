"""SMS text → the bytes of one or more SMS parts, the way an SMSC counts them.

The SMS hall answers in Chinese, so most of our messages are UCS-2; a few (codes, links, plain
ASCII prompts) fit GSM 03.38. The split has to match what the network bills and what handsets
reassemble, so the rules are the standard ones:

- GSM 03.38 7-bit when every character is in the default alphabet or its extension table:
  160 septets in a single SMS, 153 per part when concatenated (the 6-octet UDH takes 7
  septets). Extension characters (``€ [ ] { } ~ ^ | \\`` and form feed) are an escape plus a
  septet, count double, and are never split from their escape.
- Otherwise UCS-2 (sent as UTF-16BE): 70 units in a single SMS, 67 per part. Characters
  outside the BMP (emoji) are a surrogate pair, two units, and never split across parts.

GSM-7 parts carry one septet per octet (unpacked), which is what SMPP's ``data_coding`` 0
means; the SMSC packs them for the air interface.

Concatenated parts start with the 8-bit-reference UDH ``05 00 03 ref total seq``. The
reference is derived from the nudge id, so a resend of the same nudge carries the same
reference and a handset that already holds some parts can recognise them as one message.
"""

import hashlib
from dataclasses import dataclass
from typing import Final

DATA_CODING_GSM7: Final = 0
DATA_CODING_UCS2: Final = 8

GSM7_SINGLE: Final = 160
GSM7_PART: Final = 153
UCS2_SINGLE: Final = 70
UCS2_PART: Final = 67
MAX_PARTS: Final = 255
"""The UDH's part counter is one octet."""

_ESCAPE: Final = 0x1B
_BASIC: Final = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION: Final = {
    "\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
    "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65,
}  # fmt: skip
_GSM7: Final[dict[str, bytes]] = {
    **{ch: bytes([i]) for i, ch in enumerate(_BASIC) if i != _ESCAPE},
    **{ch: bytes([_ESCAPE, code]) for ch, code in _EXTENSION.items()},
}
_GSM7_DECODE: Final = {code: ch for ch, code in _GSM7.items()}


class SmsTooLongError(ValueError):
    """The text needs more parts than a concatenation header can number."""


@dataclass(frozen=True)
class Encoded:
    """One SMS text, ready for submit_sm: ``parts`` include the UDH when there are several.

    ``characters`` is the length the network bills: septets (escapes count double) for
    GSM-7, UTF-16 units (emoji count double) for UCS-2.
    """

    data_coding: int
    parts: list[bytes]
    characters: int
    segments: int

    @property
    def has_udh(self) -> bool:
        """Whether submit_sm needs esm_class 0x40 (UDH indicator)."""
        return self.segments > 1


def concat_reference(nudge_id: str) -> int:
    """The 8-bit concatenation reference of a nudge: the same for every resend of it."""
    return hashlib.sha256(nudge_id.encode()).digest()[0]


def encode_sms(text: str, nudge_id: str = "") -> Encoded:
    """Encode ``text`` as GSM-7 if it fits the alphabet, else UCS-2, split into parts.

    ``nudge_id`` seeds the concatenation reference (see :func:`concat_reference`).
    """
    if all(ch in _GSM7 for ch in text):
        units = [_GSM7[ch] for ch in text]
        data_coding, single, per_part = DATA_CODING_GSM7, GSM7_SINGLE, GSM7_PART
    else:
        units = [ch.encode("utf-16-be") for ch in text]
        data_coding, single, per_part = DATA_CODING_UCS2, UCS2_SINGLE, UCS2_PART
    width = 1 if data_coding == DATA_CODING_GSM7 else 2
    characters = sum(len(unit) for unit in units) // width
    if characters <= single:
        return Encoded(data_coding, [b"".join(units)], characters, 1)
    bodies = _split(units, per_part * width)
    if len(bodies) > MAX_PARTS:
        raise SmsTooLongError(
            f"text of {characters} characters needs {len(bodies)} SMS parts; at most "
            f"{MAX_PARTS} fit one concatenated message: shorten the template"
        )
    ref = concat_reference(nudge_id)
    parts = [
        bytes([0x05, 0x00, 0x03, ref, len(bodies), seq]) + body
        for seq, body in enumerate(bodies, start=1)
    ]
    return Encoded(data_coding, parts, characters, len(parts))


def _split(units: list[bytes], capacity: int) -> list[bytes]:
    """Pack whole characters (never half an escape or surrogate pair) into parts."""
    bodies: list[bytes] = []
    current = bytearray()
    for unit in units:
        if len(current) + len(unit) > capacity:
            bodies.append(bytes(current))
            current = bytearray()
        current += unit
    bodies.append(bytes(current))
    return bodies


def decode_gsm7(data: bytes) -> str:
    """Unpacked GSM 03.38 septets (SMPP ``data_coding`` 0) → text; unknown codes become '?'."""
    out: list[str] = []
    i = 0
    while i < len(data):
        if data[i] == _ESCAPE and i + 1 < len(data):
            out.append(_GSM7_DECODE.get(bytes(data[i : i + 2]), "?"))
            i += 2
        else:
            out.append(_GSM7_DECODE.get(bytes(data[i : i + 1]), "?"))
            i += 1
    return "".join(out)
