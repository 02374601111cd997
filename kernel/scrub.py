"""Subscriber numbers in free text, however written, replaced by their pseudonym.

A number typed by a subscriber or pasted by an agent rarely looks like the 11 digits of the
``msisdn`` field: "+86 138 1234 5678", "0086-138-1234-5678", "138.1234.5678", full-width
digits (U+FF10 to U+FF19) from a Chinese input method, or, inside a JSON payload, the escapes
``\\u0031\\u0033\\u0038…``. :func:`scrub` finds each of these and replaces it with
``msisdn:<pseudonym>`` of the plain 11-digit number, so the text stays readable, an analyst can
still join it to the subscriber's other rows, and the number itself is gone.

How a number is found: every character is folded to what it stands for (NFKC, so full-width
digits and separators become ASCII; any other script's decimal digit becomes its value; a
``\\uXXXX`` escape becomes the character it encodes), and the folded text is searched for an
optional ``+86`` / ``0086`` / ``86`` prefix (or the ``0`` a landline dials before a mobile
of another city) and a mainland mobile number (``1[3-9]`` and nine
more digits) with at most three separators (spaces, dashes, dots, brackets) between digits. A
digit just before or after the match means it is part of a longer number (an order id, a
card number) and is left alone. The match is then replaced in the original text, escapes and
separators included.

Scrubbing is total: any string gives a string. It runs wherever free text enters storage or a
log: the validation stage's free-text attributes, every dead-letter column, gateway errors and
receipts, and every log record (:mod:`kernel.logs`).
"""

import re
import unicodedata
from collections.abc import Callable

#: A pseudonym (:mod:`kernel.pseudonym`): the id of its key, then 128 bits of HMAC.
PSEUDONYM = re.compile(r"k[0-9]{1,5}\.[0-9a-f]{32}")
#: Ids a row's strings are full of, whose digits must never be taken for a number: a UUID (an
#: event id), a pseudonym, a word of 16 or more hex digits (a nudge id, a message id, a hash).
_UUID = r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
_HEX_WORD = r"[0-9a-fA-F]{16,}"
_SEP = r"[\s\-.()\u2010-\u2015]{0,3}"
#: Folded text: an id (left as it is, so scrubbing twice changes nothing and no id loses
#: digits that happen to look like a number), or a mobile number with an optional prefix and
#: separators.
_NUMBER = re.compile(
    rf"{PSEUDONYM.pattern}|{_UUID}|(?<![0-9A-Za-z]){_HEX_WORD}(?![0-9A-Za-z])"
    rf"|(?<![0-9])(?:(?:\+|00)?{_SEP}8{_SEP}6{_SEP}|0{_SEP})?"
    rf"(1{_SEP}[3-9](?:{_SEP}[0-9]){{9}})(?![0-9])"
)
#: A ``\uXXXX`` escape, as JSON writes non-ASCII (and, by some encoders, any) characters.
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
#: A whole value that is one id.
_ID = re.compile(rf"{_UUID}|{PSEUDONYM.pattern}|{_HEX_WORD}")
#: Cheap test first: fewer than 11 digits (of any script) and no escape cannot hold a number.
_DIGIT = re.compile(r"\d")
_FOLDABLE = frozenset("0123456789+-.() \u2010\u2011\u2012\u2013\u2014\u2015")


def scrub(text: str, pseudonymize: Callable[[str], str]) -> str:
    """``text`` with every subscriber number replaced by ``msisdn:<pseudonym>``."""
    if len(text) < 11 or _ID.fullmatch(text):
        return text  # too short for a number, or an id: most strings of a row
    plain = "\\u" not in text
    if plain and len(_DIGIT.findall(text)) < 11:
        return text
    if plain and text.isascii():
        # ASCII without escapes folds to itself: the search runs on the text as it is.
        return _replace(text, text, None, pseudonymize)
    return _replace(text, *_fold(text), pseudonymize)


def _replace(
    text: str,
    folded: str,
    spans: tuple[list[int], list[int]] | None,
    pseudonymize: Callable[[str], str],
) -> str:
    """``text`` with each number found in ``folded`` replaced; ``spans`` maps each folded
    character back to the text's (None: the two are the same)."""
    out: list[str] = []
    done = 0
    for match in _NUMBER.finditer(folded):
        if match.group(1) is None:
            continue
        number = re.sub(r"[^0-9]", "", match.group(1))
        begin, end = match.start(), match.end()
        if spans is not None:
            begin, end = spans[0][begin], spans[1][end - 1]
        out += [text[done:begin], "msisdn:", pseudonymize(number)]
        done = end
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def _fold(text: str) -> tuple[str, tuple[list[int], list[int]]]:
    """The folded text, and for each of its characters the span of ``text`` it came from."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    at = 0
    while at < len(text):
        if text.startswith("\\\\", at):  # an escaped backslash: a "u" after it is text
            char, width = "\\", 2
        elif text[at] == "\\" and (escape := _ESCAPE.match(text, at)) is not None:
            char, width = chr(int(escape.group(1), 16)), escape.end() - at
        else:
            char, width = text[at], 1
        chars.append(_fold_char(char))
        starts.append(at)
        ends.append(at + width)
        at += width
    return "".join(chars), (starts, ends)


def _fold_char(char: str) -> str:
    """One character as the number search sees it: ASCII as it is, any other digit or
    separator as its ASCII form, anything else ``#``."""
    if char.isascii():
        return char
    if char.isspace():
        return " "
    decimal = unicodedata.decimal(char, None)
    if decimal is not None:
        return str(decimal)
    folded = unicodedata.normalize("NFKC", char)
    if len(folded) == 1 and folded in _FOLDABLE and not folded.isdigit():
        return folded  # a full-width plus, dash, dot or bracket; digits are decimals only
    return "#"
