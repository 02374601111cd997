"""Simulated handsets: subscribers who answer the nudges they are sent, with a known probability.

The dispatcher's record of an SMS (:class:`schemas.nudges.Dispatch`) goes in; the raw channel
events the subscriber produces in answer come out, ready for the raw topic. Because the share
of subscribers who answer is set here, conversion tracking has a ground truth: over many
nudges the conversions it measures must come out at this probability.

Everything is a pure function of the seed and the nudge id, so a re-read dispatch gives the
same events byte for byte, ids included (uuid5), and the pipeline's deduplication collapses
them. What a subscriber does depends on the nudge's goal:

- ``uses_self_service:<item>:<h>h``: does ``<item>`` successfully on one of the self-service
  ways the guidance table offers for it (SMS code, web or WAP hall), picked by the brand's
  channel propensity. The visit starts at a log-uniform delay between 5 minutes and
  ``min(h, 24)`` hours (less the few minutes a visit takes) after ``approved_at``: most
  people who act on an SMS act soon, and every event stays inside the goal's window.
- ``survey_reply:<h>h``: an SMS to 10086 with a score, "1" to "5", a few minutes later.
- ``no_agent_call:<d>d``: nothing. That goal is reached by *not* calling, and whether the
  subscriber calls is decided by the simulator's own traffic: a handset can add events, it
  cannot take back a call the simulation makes.

A failed dispatch reached no handset, and a number outside the simulated population has no
handset here; neither answers.
"""

import hashlib
import math
import random
import re
import uuid
from collections.abc import Callable
from datetime import datetime

import msgspec

from channelhub.simulator.catalog import SMS_SERVICES
from channelhub.simulator.population import PROPENSITY, Population, Subscriber
from channelhub.simulator.session import seconds
from channelhub.simulator.sms import match, reply
from kernel.clock import from_ms, to_ms
from orchestration.rules.guidance import SelfServiceWay, way_for
from schemas.envelope import Attributes, Envelope
from schemas.events import (
    ConfirmationReplied,
    ConfirmationRequested,
    FunctionUsed,
    Login,
    MessageReceived,
    SmsConfirmationReplied,
    SmsConfirmationRequested,
    SmsMessageReceived,
    SmsReplySent,
    SmsServiceCompleted,
    SmsServiceCompletedEvent,
    WapFunctionUsed,
    WapLogin,
    WebFunctionUsed,
    WebLogin,
)
from schemas.nudges import Dispatch

_SCALE = float(2**64)
_MINUTE_MS = 60_000
_HOUR_MS = 60 * _MINUTE_MS
#: The earliest answer, and the room left at the end of the window for the visit itself
#: (an SMS dialogue with a charge confirmation takes under two minutes).
FIRST_ANSWER_MS = 5 * _MINUTE_MS
VISIT_MS = 5 * _MINUTE_MS
#: Later answers are no likelier than at 24 h: a window of a week is not a week of waiting.
LATEST_ANSWER_MS = 24 * _HOUR_MS
#: A survey is answered one to ten minutes after it arrives, mostly satisfied.
SURVEY_DELAY_S = (60.0, 600.0)
SURVEY_SCORES: dict[str, float] = {"1": 4, "2": 5, "3": 14, "4": 35, "5": 42}

_GOAL = re.compile(r"^(?:uses_self_service:(?P<item>[^:]+):(?P<hours>\d+)h|survey_reply:\d+h)$")
#: Fixed namespace of the handsets' uuid5 event ids.
_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:channelhub:simulator:handsets")
_ONLINE: dict[str, tuple[type[Envelope], type[Envelope]]] = {
    "web": (WebLogin, WebFunctionUsed),
    "wap": (WapLogin, WapFunctionUsed),
}
_encode = msgspec.json.Encoder().encode


def would_respond(seed: int, nudge_id: str, probability: float) -> bool:
    """Whether the subscriber answers this nudge: a uniform, deterministic draw per nudge.

    Hashed like the holdout groups, so the answer survives restarts and replays, and raising
    the probability only adds answering subscribers.
    """
    digest = hashlib.sha256(f"{seed}\x1f{nudge_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE < probability


def responses(
    dispatch: Dispatch, *, seed: int, probability: float, population: Population
) -> list[bytes]:
    """The raw JSON events the subscriber produces in answer to ``dispatch``, in time order;
    none when the dispatch failed, the subscriber does not answer or has no handset here."""
    if dispatch.status != "sent" or not would_respond(seed, dispatch.nudge_id, probability):
        return []
    who = population.find(dispatch.msisdn)
    goal = _GOAL.match(dispatch.goal)
    if who is None or goal is None:  # no_agent_call, or a goal no handset can act on
        return []
    answer = _Answer(dispatch, who, seed)
    if goal["item"] is None:
        answer.survey_reply()
    else:
        answer.self_service(goal["item"], int(goal["hours"]) * _HOUR_MS)
    return answer.events


def self_service_channels(item: str) -> list[str]:
    """The channels among SMS, web and WAP on which ``item`` can be done.

    SMS counts only when the hall records the code's service under the item's own name: code
    0205 is also the way to a package conversion, but the hall logs it as an SMS bundle, which
    is not a use of the package conversion the nudge pointed to.
    """
    way = way_for(item)
    sms = way.sms_code is not None and way.sms_code in SMS_SERVICES
    offered = {
        "sms": sms and SMS_SERVICES[str(way.sms_code)].service == item,
        "web": way.web_function is not None,
        "wap": way.wap_function is not None,
    }
    return [channel for channel, ok in offered.items() if ok]


class _Answer:
    """The events of one subscriber's answer, built in time order from one seeded generator."""

    def __init__(self, dispatch: Dispatch, who: Subscriber, seed: int) -> None:
        self.dispatch = dispatch
        self.who = who
        self.seed = seed
        self.rng = random.Random(f"{seed}:{dispatch.nudge_id}")
        self.approved_ms = to_ms(dispatch.approved_at)
        self.events: list[bytes] = []

    def survey_reply(self) -> None:
        rng = self.rng
        text = rng.choices(list(SURVEY_SCORES), list(SURVEY_SCORES.values()))[0]
        code, kind = match(text)
        t = self.approved_ms + seconds(rng, *SURVEY_DELAY_S)
        attributes = MessageReceived(text, code, kind)  # type: ignore[arg-type]
        self._emit(t, SmsMessageReceived, "sms", attributes)

    def self_service(self, item: str, window_ms: int) -> None:
        channels = self_service_channels(item)
        if not channels:
            return
        brand = self.who.brand
        channel = self.rng.choices(channels, [PROPENSITY[c][brand] for c in channels])[0]
        latest = min(window_ms, LATEST_ANSWER_MS) - VISIT_MS
        delay = FIRST_ANSWER_MS * math.exp(
            self.rng.random() * math.log(max(latest, FIRST_ANSWER_MS) / FIRST_ANSWER_MS)
        )
        start = self.approved_ms + int(delay)
        way = way_for(item)
        if channel == "sms":
            self._sms_service(start, str(way.sms_code))
        else:
            self._online(start, channel, way)

    def _online(self, t: int, channel: str, way: SelfServiceWay) -> None:
        """Log in to the hall, then use the item's function there."""
        login, used = _ONLINE[channel]
        function = way.web_function if channel == "web" else way.wap_function
        method = self.rng.choice(("password", "sms_code"))
        self._emit(t, login, channel, Login(method, True))  # type: ignore[arg-type]
        t += seconds(self.rng, 10, 90)
        self._emit(t, used, channel, FunctionUsed(str(function)))

    def _sms_service(self, t: int, code: str) -> None:
        """Send the code to 10086; confirm a charged service; the result and the promotion."""
        rng, service = self.rng, SMS_SERVICES[code]
        self._emit(t, SmsMessageReceived, "sms", MessageReceived(code, code, "exact"))
        t += seconds(rng, 1, 4)
        if service.charge_fen:
            requested = ConfirmationRequested(code, service.service, service.charge_fen)
            self._emit(t, SmsConfirmationRequested, "sms", requested)
            self._emit(t + 500, SmsReplySent, "sms", reply(rng.randint(80, 120)))
            t += seconds(rng, 5, 90)
            self._emit(t, SmsConfirmationReplied, "sms", ConfirmationReplied(code, "yes"))
            t += seconds(rng, 1, 4)
        completed = SmsServiceCompleted(code, service.service, True)
        self._emit(t, SmsServiceCompletedEvent, "sms", completed)
        t += seconds(rng, 0.5, 2)
        self._emit(t, SmsReplySent, "sms", reply(rng.randint(*service.reply_chars)))
        self._emit(t + seconds(rng, 2, 6), SmsReplySent, "sms", reply(rng.randint(50, 120)))

    def _emit(self, t_ms: int, cls: type[Envelope], channel: str, attributes: Attributes) -> None:
        n = len(self.events)
        make: Callable[..., Envelope] = cls  # the concrete type has ``attributes``
        event = make(
            event_id=str(uuid.uuid5(_IDS, f"{self.seed}\x1f{self.dispatch.nudge_id}\x1f{n}")),
            schema_version=1,
            channel=channel,
            occurred_at=from_ms(t_ms),
            msisdn=self.who.msisdn,
            session_id=f"{channel}-handset-{self.dispatch.nudge_id[:16]}",
            prefecture=self.who.prefecture,
            brand=self.who.brand,
            attributes=attributes,
        )
        self.events.append(_encode(event))


class _When(msgspec.Struct):
    occurred_at: datetime


_when = msgspec.json.Decoder(_When)


def occurred_ms(payload: bytes) -> int:
    """When an event of :func:`responses` happens (epoch ms): when a handset lets it go."""
    return to_ms(_when.decode(payload).occurred_at)
