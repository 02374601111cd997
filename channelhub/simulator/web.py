"""The web and WAP halls: log in, use a few functions, sometimes order; pick a number online.

Both halls run the same journey with their own function lists (the web hall has many more).
Only the web hall sells numbers: a reserved number must be activated at a business hall within
48 hours, and about half are; the activation event is scheduled hours after the visit.

What a hall offers is its :attr:`OnlineHall.functions`: today's static list, or what the live
service catalogue holds open (:class:`~channelhub.simulator.offered.Functions`), swapped in
while the simulator runs. A function opened since gets a share of use. Customers still open a
retired function's page from habit (a bookmark, the menu they remember): the page only says the
function is withdrawn, so the visit is recorded as ``*.function_unavailable``, not as a use
(the self-service figures and journeys never count it), and nothing is ordered or reserved
there. It is the demand the hall no longer meets (``dashboards.queries.catalogue`` counts it).
"""

import random

from channelhub.simulator.catalog import (
    NUMBER_SELECT_FUNCTION,
    ORDERABLE,
    RESERVATION_HOURS,
    WAP_FUNCTIONS,
    WEB_FUNCTIONS,
)
from channelhub.simulator.load import HOUR_MS, LoadModel
from channelhub.simulator.offered import STATIC, Functions
from channelhub.simulator.population import Population, new_number
from channelhub.simulator.session import Hall, Schedule, Session, seconds
from schemas.envelope import Envelope
from schemas.events import (
    FunctionUsed,
    Login,
    NumberActivated,
    NumberReserved,
    OrderSubmitted,
    WapFunctionUnavailable,
    WapFunctionUsed,
    WapLogin,
    WapOrderSubmitted,
    WebFunctionUnavailable,
    WebFunctionUsed,
    WebLogin,
    WebNumberActivated,
    WebNumberReserved,
    WebOrderSubmitted,
)

#: Per hall: event classes (login, function used, function withdrawn, order), share of SMS-code
#: logins, function weights.
_HALLS: dict[str, tuple[tuple[type[Envelope], ...], float, dict[str, float]]] = {
    "web": (
        (WebLogin, WebFunctionUsed, WebFunctionUnavailable, WebOrderSubmitted), 0.35,
        WEB_FUNCTIONS,
    ),
    "wap": (
        (WapLogin, WapFunctionUsed, WapFunctionUnavailable, WapOrderSubmitted), 0.6,
        WAP_FUNCTIONS,
    ),
}  # fmt: skip
LOGIN_SUCCESS = 0.94
RETRY_SUCCESS = 0.8
MORE_FUNCTIONS = 0.55  # chance of using one more function after each one
MAX_FUNCTIONS = 8
ORDER_SHARE = 0.3  # of uses of an orderable function
RESERVE_SHARE = 0.6  # of number selections that end in a reservation
ACTIVATE_SHARE = 0.55  # of reservations activated in time


class OnlineHall(Hall):
    """Sessions on the web (``channel="web"``) or WAP (``channel="wap"``) hall."""

    def __init__(
        self,
        channel: str,
        population: Population,
        load: LoadModel,
        start_ms: int,
        rng: random.Random,
        schedule: Schedule,
    ) -> None:
        super().__init__(channel, load.arrivals(channel, start_ms, rng), rng, schedule)
        self._channel = channel
        events, self._sms_login, functions = _HALLS[channel]
        self._login, self._function, self._unavailable, self._order = events
        self._functions = list(functions)
        self._weights = list(functions.values())
        self._population = population
        self._orders = 0
        #: What the hall offers now; the simulator swaps in the live catalogue's.
        self.functions: Functions = STATIC

    def start_session(self) -> None:
        rng, schedule = self._rng, self._schedule
        t = self._advance()
        who = self._population.pick(self._channel, rng)
        visit = Session(who.msisdn, self._ids.next(), who.prefecture, who.brand)
        method = "sms_code" if rng.random() < self._sms_login else "password"
        success = rng.random() < LOGIN_SUCCESS
        schedule(t, self._login, visit, Login(method, success))  # type: ignore[arg-type]
        if not success:
            t += seconds(rng, 15, 40)
            success = rng.random() < RETRY_SUCCESS
            schedule(t, self._login, visit, Login(method, success))  # type: ignore[arg-type]
            if not success:
                return
        for _ in range(MAX_FUNCTIONS):
            t += seconds(rng, 10, 90)
            function = self.functions.pick(rng, self._functions, self._weights)
            if self.functions.is_open(function):
                schedule(t, self._function, visit, FunctionUsed(function))
                t = self._carry_out(visit, function, t)
            else:  # a withdrawn one's page offers nothing
                schedule(t, self._unavailable, visit, FunctionUsed(function))
            if rng.random() >= MORE_FUNCTIONS:
                break

    def _carry_out(self, visit: Session, function: str, t: int) -> int:
        """What follows a function's use: an order, a number reserved, or nothing."""
        rng = self._rng
        if function in ORDERABLE and rng.random() < ORDER_SHARE:
            t += seconds(rng, 20, 90)
            product, amount = rng.choice(ORDERABLE[function])
            self._orders += 1
            order_id = f"{self._channel[0].upper()}{self._orders:08d}{rng.getrandbits(32):08X}"
            self._schedule(t, self._order, visit, OrderSubmitted(order_id, product, amount))
        elif function == NUMBER_SELECT_FUNCTION and self._channel == "web":
            t = self._reserve_number(visit, t)
        return t

    def _reserve_number(self, visit: Session, t: int) -> int:
        rng = self._rng
        if rng.random() >= RESERVE_SHARE:
            return t
        t += seconds(rng, 30, 120)
        number, reservation = new_number(rng), f"R{rng.getrandbits(48):012X}"
        self._schedule(t, WebNumberReserved, visit, NumberReserved(number, reservation))
        if rng.random() < ACTIVATE_SHARE:
            activated = t + int(rng.uniform(0.5, RESERVATION_HOURS) * HOUR_MS)
            self._schedule(
                activated, WebNumberActivated, visit, NumberActivated(number, reservation)
            )
        return t
