"""The SMS hall: texts to 10086, matched as a code, a menu step, a keyword or nothing.

The match kind is never drawn: the simulator picks what a customer types and runs it through
:func:`match`, the same rules the hall applies (exact code, the ``10086`` menu, fuzzy
keywords, else unknown). Charged services ask for a confirming reply first (two-step
confirmation); a successful final reply is followed by one appended promotion SMS; replies
over 70 characters go out as one long SMS.

What the hall answers is its :class:`Offer`: today's static codes and keywords, or those the
live service catalogue holds open (:meth:`Offer.of`), swapped in while the simulator runs.
Customers keep sending the codes and keywords they know from the static catalogue, retired
or not: the hall matches a retired one to nothing and answers with its help text, as it does
any text it does not know; that is the demand the channel no longer meets. A newly opened
code is sent now and then too, and served.
"""

import math
import random
from typing import NamedTuple

from channelhub.simulator.catalog import (
    SMS_CJK_KEYWORDS,
    SMS_CODE_WEIGHTS,
    SMS_FUZZY_TEXTS,
    SMS_LATIN_KEYWORDS,
    SMS_MENU_TEXT,
    SMS_SERVICES,
    SMS_UNKNOWN_TEXTS,
    SmsService,
)
from channelhub.simulator.load import LoadModel
from channelhub.simulator.population import Population
from channelhub.simulator.session import Hall, Schedule, Session, seconds
from orchestration.catalogue import Catalogue
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
#: How often customers send a code opened after today's catalogue, against the static weights.
NEW_CODE_WEIGHT = 2.0
#: A newly opened code's service as the simulator runs it: free, a short result reply.
NEW_SERVICE_REPLY = (40, 90)


class Offer(NamedTuple):
    """What the hall answers: each open code's service, and the keywords that lead to a code
    (latin ones in lower case, matched as the whole text; Chinese ones anywhere in it)."""

    services: dict[str, SmsService]
    latin: dict[str, str]
    cjk: dict[str, str]

    @classmethod
    def of(cls, catalogue: Catalogue) -> "Offer":
        """The codes and keywords ``catalogue`` holds open; the static ones until it is
        seeded (:data:`STATIC`: what the seed writes)."""
        if not catalogue.seeded:
            return STATIC
        services: dict[str, SmsService] = {}
        for code, serving in catalogue.channel("sms").items():
            names = [service for service, _ in serving]
            known = SMS_SERVICES.get(code)
            services[code] = (
                known
                if known is not None and known.service in names
                else SmsService(names[0], 0, NEW_SERVICE_REPLY)
            )
        words = catalogue.keywords()
        latin = {w: c for w, c in words.items() if w.isascii()}
        return cls(services, latin, {w: c for w, c in words.items() if not w.isascii()})


STATIC = Offer(dict(SMS_SERVICES), dict(SMS_LATIN_KEYWORDS), dict(SMS_CJK_KEYWORDS))


def match(text: str, offer: Offer = STATIC) -> tuple[str | None, str]:
    """The hall's matching rules: ``(matched code or None, match kind)``."""
    stripped = text.strip()
    if stripped in offer.services:
        return stripped, "exact"
    if stripped == SMS_MENU_TEXT:
        return None, "menu"
    code = offer.latin.get(stripped.lower())
    if code is None:
        code = next((c for word, c in offer.cjk.items() if word in stripped), None)
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
        #: What the hall answers now; the simulator swaps in the live catalogue's.
        self.offer = STATIC

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
            text = self._code_sent(rng)
        elif opening == "fuzzy":
            text = rng.choice(SMS_FUZZY_TEXTS)
        else:
            text = rng.choice(SMS_UNKNOWN_TEXTS)
        code, kind = match(text, self.offer)
        schedule(t, SmsMessageReceived, dialogue, MessageReceived(text, code, kind))  # type: ignore[arg-type]
        t += seconds(rng, 1, 4)
        if code is None:
            schedule(t, SmsReplySent, dialogue, reply(rng.randint(80, 130)))  # the help text
            return
        self._serve(dialogue, t, code)

    def _code_sent(self, rng: random.Random) -> str:
        """A code a customer sends: one they know from today's catalogue, retired or not,
        or now and then one opened since."""
        opened = [c for c in self.offer.services if c not in SMS_CODE_WEIGHTS]
        if not opened:
            return rng.choices(_CODES, _CODE_WEIGHTS)[0]
        weights = [*_CODE_WEIGHTS, *(NEW_CODE_WEIGHT for _ in opened)]
        return rng.choices([*_CODES, *opened], weights)[0]

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
        # The menu lists what is open: a customer whose item is gone goes no further.
        codes = [c for c in _CODES if len(c) == 4 and c.startswith(f"0{menu}")]
        code = rng.choices(codes, [SMS_CODE_WEIGHTS[c] for c in codes])[0]
        if code not in self.offer.services:
            return
        t += seconds(rng, 5, 30)
        schedule(t, SmsMessageReceived, dialogue, MessageReceived(str(int(code[2:])), code, "menu"))
        self._serve(dialogue, t + seconds(rng, 1, 4), code)

    def _serve(self, dialogue: Session, t: int, code: str) -> None:
        """Carry out ``code``: confirm first when charged, then the result and a promotion."""
        rng, schedule = self._rng, self._schedule
        service = self.offer.services[code]
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
