"""The SMS hall: texts to 10086, matched as a code, a menu step, a keyword or nothing.

The match kind is never drawn: the simulator picks what a customer types and runs it through
:func:`match`, the same rules the hall applies (exact code, the ``10086`` menu, fuzzy
keywords, else unknown). Charged services ask for a confirming reply first (two-step
confirmation); a successful final reply is followed by one appended promotion SMS; replies
over 70 characters go out as one long SMS.
"""

import math
import random

from channelhub.simulator.catalog import (
    SMS_CJK_KEYWORDS,
    SMS_CODE_WEIGHTS,
    SMS_FUZZY_TEXTS,
    SMS_LATIN_KEYWORDS,
    SMS_MENU_TEXT,
    SMS_SERVICES,
    SMS_UNKNOWN_TEXTS,
)
from channelhub.simulator.load import LoadModel
from channelhub.simulator.population import Population
from channelhub.simulator.session import Hall, Schedule, Session, seconds
from schemas.events import (
    ConfirmationReplied,
    ConfirmationRequested,
    MessageReceived,
    ReplySent,
    SmsConfirmationReplied,
    SmsConfirmationRequested,
    SmsMessageReceived,
    SmsReplySent,
    SmsServiceCompleted,
    SmsServiceCompletedEvent,
)

#: What customers start a dialogue with.
OPENING_WEIGHTS: dict[str, float] = {"exact": 45, "menu": 15, "fuzzy": 25, "unknown": 15}
#: Menu dialogue: main-menu numbers (01 queries, 02 handling, 03 consultation).
MENU_WEIGHTS: dict[str, float] = {"1": 60, "2": 30, "3": 10}
MENU_DROP_OUT = 0.2  # got the main menu and went no further
CONFIRM_REPLIES: dict[str, float] = {"yes": 70, "no": 10, "timeout": 20}
CONFIRM_TIMEOUT_MS = 10 * 60_000
SUCCESS_SHARE = 0.97
SINGLE_SMS_CHARS = 70  # longer replies are sent as one concatenated long SMS
SEGMENT_CHARS = 67  # UCS-2 characters per segment of a concatenated SMS

_CODES = list(SMS_CODE_WEIGHTS)
_CODE_WEIGHTS = list(SMS_CODE_WEIGHTS.values())


def match(text: str) -> tuple[str | None, str]:
    """The hall's matching rules: ``(matched code or None, match kind)``."""
    stripped = text.strip()
    if stripped in SMS_SERVICES:
        return stripped, "exact"
    if stripped == SMS_MENU_TEXT:
        return None, "menu"
    code = SMS_LATIN_KEYWORDS.get(stripped.lower())
    if code is None:
        code = next((c for word, c in SMS_CJK_KEYWORDS.items() if word in stripped), None)
    return (code, "fuzzy") if code else (None, "unknown")


def reply(characters: int) -> ReplySent:
    long_sms = characters > SINGLE_SMS_CHARS
    segments = math.ceil(characters / SEGMENT_CHARS) if long_sms else 1
    return ReplySent(segments, characters, long_sms)


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


class SmsHall(Hall):
    """SMS dialogues with 10086."""

    def __init__(
        self,
        population: Population,
        load: LoadModel,
        start_ms: int,
        rng: random.Random,
        schedule: Schedule,
    ) -> None:
        super().__init__("sms", load.arrivals("sms", start_ms, rng), rng, schedule)
        self._population = population

    def start_session(self) -> None:
        rng, schedule = self._rng, self._schedule
        t = self._advance()
        who = self._population.pick("sms", rng)
        dialogue = Session(who.msisdn, self._ids.next(), who.prefecture, who.brand)
        opening = _pick(rng, OPENING_WEIGHTS)
        if opening == "menu":
            self._menu(dialogue, t)
            return
        if opening == "exact":
            text = rng.choices(_CODES, _CODE_WEIGHTS)[0]
        elif opening == "fuzzy":
            text = rng.choice(SMS_FUZZY_TEXTS)
        else:
            text = rng.choice(SMS_UNKNOWN_TEXTS)
        code, kind = match(text)
        schedule(t, SmsMessageReceived, dialogue, MessageReceived(text, code, kind))  # type: ignore[arg-type]
        t += seconds(rng, 1, 4)
        if code is None:
            schedule(t, SmsReplySent, dialogue, reply(rng.randint(80, 130)))  # the help text
            return
        self._serve(dialogue, t, code)

    def _menu(self, dialogue: Session, t: int) -> None:
        """``10086``, then the main-menu number, then the item number (e.g. 2, 4 → 0204)."""
        rng, schedule = self._rng, self._schedule
        schedule(t, SmsMessageReceived, dialogue, MessageReceived(SMS_MENU_TEXT, None, "menu"))
        t += seconds(rng, 1, 4)
        schedule(t, SmsReplySent, dialogue, reply(rng.randint(150, 220)))
        if rng.random() < MENU_DROP_OUT:
            return
        menu = _pick(rng, MENU_WEIGHTS)
        t += seconds(rng, 8, 40)
        schedule(t, SmsMessageReceived, dialogue, MessageReceived(menu, None, "menu"))
        t += seconds(rng, 1, 4)
        schedule(t, SmsReplySent, dialogue, reply(rng.randint(90, 160)))
        codes = [c for c in _CODES if len(c) == 4 and c.startswith(f"0{menu}")]
        code = rng.choices(codes, [SMS_CODE_WEIGHTS[c] for c in codes])[0]
        t += seconds(rng, 5, 30)
        schedule(t, SmsMessageReceived, dialogue, MessageReceived(str(int(code[2:])), code, "menu"))
        self._serve(dialogue, t + seconds(rng, 1, 4), code)

    def _serve(self, dialogue: Session, t: int, code: str) -> None:
        """Carry out ``code``: confirm first when charged, then the result and a promotion."""
        rng, schedule = self._rng, self._schedule
        service = SMS_SERVICES[code]
        if service.charge_fen:
            requested = ConfirmationRequested(code, service.service, service.charge_fen)
            schedule(t, SmsConfirmationRequested, dialogue, requested)
            schedule(t + 500, SmsReplySent, dialogue, reply(rng.randint(80, 120)))
            answer = _pick(rng, CONFIRM_REPLIES)
            t += CONFIRM_TIMEOUT_MS if answer == "timeout" else seconds(rng, 5, 90)
            schedule(t, SmsConfirmationReplied, dialogue, ConfirmationReplied(code, answer))  # type: ignore[arg-type]
            if answer == "timeout":
                return
            t += seconds(rng, 1, 4)
            if answer == "no":
                schedule(t, SmsReplySent, dialogue, reply(rng.randint(30, 60)))
                return
        success = rng.random() < SUCCESS_SHARE
        schedule(
            t,
            SmsServiceCompletedEvent,
            dialogue,
            SmsServiceCompleted(code, service.service, success),
        )
        t += seconds(rng, 0.5, 2)
        low, high = service.reply_chars if success else (40, 70)
        schedule(t, SmsReplySent, dialogue, reply(rng.randint(low, high)))
        if success:
            schedule(t + seconds(rng, 2, 6), SmsReplySent, dialogue, reply(rng.randint(50, 120)))
