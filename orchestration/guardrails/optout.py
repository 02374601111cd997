"""Opt-out replies: ``TD`` (退订, "unsubscribe") and the ways people actually type it.

Chinese operators end marketing SMS with "回复TD退订" (reply TD to unsubscribe), and the SMS
hall already matches keywords fuzzily (``HF`` means ``0101``). An opt-out is a whole reply that,
after normalisation, is a command:

- ``TD``, ``退订``, ``请退订``, ``TD退订``, ``退订TD`` → stop everything (scope :data:`ALL`);
- the same followed by a numeric code, ``TD0101`` or ``退订 0101`` → stop only the rules whose
  ``opt_out_codes`` list that code (the SMS hall's numeric service codes).

Normalisation is NFKC (full-width letters and digits become ASCII), upper case, and
removal of whitespace, punctuation, symbols and control characters, so ``t d``, ``T.D.`` and
``TD!`` all count. Deliberately *not* opt-outs: ``TD`` inside other text (``today``, ``LTD``), a
letter suffix (``TDK``: the code space is numeric, so it is something else), and questions such
as ``怎么退订`` ("how do I unsubscribe?"), which the SMS hall answers with its SP-unsubscription
guide. Opting back in is left out on purpose: nothing in the operator's practice defines a
reply that re-subscribes, and guessing one (``KT`` is the hall's "activate a service") would
risk messaging people who asked to be left alone.
"""

import re
import unicodedata
from datetime import datetime

import msgspec

from orchestration.guardrails.clock import epoch
from orchestration.guardrails.state import ALL, SubscriberState
from schemas.guardrails import GuardrailSettings

_COMMAND = re.compile(r"请?(?:TD退订|退订TD|TD|退订)([0-9]{1,8})?")
#: Unicode categories removed before matching: separators, punctuation, symbols, controls.
_NOISE = ("Z", "P", "S", "C")


class OptOut(msgspec.Struct, frozen=True):
    """A parsed opt-out: ``scope`` is :data:`ALL` or the numeric code the reply named."""

    scope: str


def _normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).upper()
    return "".join(ch for ch in folded if not unicodedata.category(ch).startswith(_NOISE))


def parse_opt_out(text: str) -> OptOut | None:
    """The opt-out ``text`` (an SMS reply) expresses, or ``None`` if it is not one."""
    match = _COMMAND.fullmatch(_normalise(text))
    if match is None:
        return None
    return OptOut(scope=match.group(1) or ALL)


def record_opt_out(state: SubscriberState, opt_out: OptOut, at: datetime) -> SubscriberState:
    """``state`` with the opt-out applied; the first time a scope was opted out is kept."""
    if opt_out.scope in state.opt_outs:
        return state
    return msgspec.structs.replace(state, opt_outs={**state.opt_outs, opt_out.scope: epoch(at)})


def is_opted_out(state: SubscriberState, settings: GuardrailSettings) -> bool:
    """Whether the subscriber opted out of everything or of a code this rule lists."""
    return ALL in state.opt_outs or any(code in state.opt_outs for code in settings.opt_out_codes)
