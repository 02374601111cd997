"""The 24h self-service kiosks: 600 terminals, sessions of paying and services, and faults.

Terminals are spread over the prefectures like the subscribers (every prefecture has some);
a customer uses a terminal in their own prefecture. Faults are events about equipment, not
people: no MSISDN, keyed by the terminal, and they arrive in proportion to use.
"""

import random

from channelhub.simulator.catalog import (
    KIOSK_FAULTS,
    KIOSK_SERVICES,
    KIOSK_TERMINALS,
    KIOSK_TOP_UPS_FEN,
)
from channelhub.simulator.load import Arrivals, LoadModel
from channelhub.simulator.offered import STATIC, Functions
from channelhub.simulator.population import PREFECTURE_WEIGHTS, Population
from channelhub.simulator.session import Hall, Schedule, Session, seconds
from schemas import PREFECTURES
from schemas.events import (
    KioskPaymentCompleted,
    KioskServiceCompleted,
    KioskServiceCompletedEvent,
    KioskSession,
    KioskSessionStarted,
    KioskTerminalFault,
    PaymentCompleted,
    TerminalFault,
)

#: Share of sessions that pay (pre-paid Easyown customers top up at kiosks most).
PAY_SHARE: dict[str, float] = {"easyown": 0.7, "mzone": 0.5, "gotone": 0.35, "enterprise": 0.3}
ALSO_SERVICE_SHARE = 0.25  # of paying sessions that also use a service
PAYMENT_METHODS: dict[str, float] = {"cash": 60, "card": 25, "mobile": 15}
SERVICE_SUCCESS = 0.96


class Terminals:
    """The fleet: ids ``K0001``… and the prefecture each stands in."""

    def __init__(self, rng: random.Random, count: int = KIOSK_TERMINALS) -> None:
        weights = [PREFECTURE_WEIGHTS[p] for p in PREFECTURES]
        placed = list(PREFECTURES) + rng.choices(PREFECTURES, weights, k=count - len(PREFECTURES))
        self.prefecture_of = {f"K{i + 1:04d}": p for i, p in enumerate(placed)}
        self.ids = list(self.prefecture_of)
        self.in_prefecture: dict[str, list[str]] = {p: [] for p in PREFECTURES}
        for terminal, prefecture in self.prefecture_of.items():
            self.in_prefecture[prefecture].append(terminal)


class KioskHall(Hall):
    """Customer sessions at the terminals."""

    def __init__(
        self,
        terminals: Terminals,
        population: Population,
        load: LoadModel,
        start_ms: int,
        rng: random.Random,
        schedule: Schedule,
    ) -> None:
        super().__init__("kiosk", load.arrivals("kiosk", start_ms, rng), rng, schedule)
        self._terminals = terminals
        self._population = population
        self._services = list(KIOSK_SERVICES)
        self._service_weights = list(KIOSK_SERVICES.values())
        #: What the terminals offer now; the simulator swaps in the live catalogue's.
        self.functions: Functions = STATIC

    def start_session(self) -> None:
        rng, schedule = self._rng, self._schedule
        t = self._advance()
        who = self._population.pick("kiosk", rng)
        terminal = rng.choice(self._terminals.in_prefecture[who.prefecture])
        visit = Session(who.msisdn, self._ids.next(), who.prefecture, who.brand)
        schedule(t, KioskSessionStarted, visit, KioskSession(terminal))
        pays = rng.random() < PAY_SHARE[who.brand]
        if pays:
            t += seconds(rng, 40, 150)
            method = rng.choices(list(PAYMENT_METHODS), list(PAYMENT_METHODS.values()))[0]
            amount = rng.choice(KIOSK_TOP_UPS_FEN)
            schedule(t, KioskPaymentCompleted, visit, PaymentCompleted(terminal, amount, method))  # type: ignore[arg-type]
        if not pays or rng.random() < ALSO_SERVICE_SHARE:
            t += seconds(rng, 30, 120)
            service = self.functions.pick(rng, self._services, self._service_weights)
            success = rng.random() < SERVICE_SUCCESS and self.functions.is_open(service)
            completed = KioskServiceCompleted(terminal, service, success)
            schedule(t, KioskServiceCompletedEvent, visit, completed)


class KioskFaults(Hall):
    """Terminal faults: equipment events with no subscriber."""

    def __init__(
        self,
        terminals: Terminals,
        load: LoadModel,
        start_ms: int,
        rng: random.Random,
        schedule: Schedule,
    ) -> None:
        arrivals = Arrivals(load.fault_rate, load.next_change_ms, start_ms, rng)
        super().__init__("fault", arrivals, rng, schedule)
        self._terminals = terminals
        self._faults = list(KIOSK_FAULTS.items())

    def start_session(self) -> None:
        t = self._advance()
        terminal = self._rng.choice(self._terminals.ids)
        code, severity = self._rng.choice(self._faults)
        report = Session(None, self._ids.next(), self._terminals.prefecture_of[terminal], None)
        self._schedule(t, KioskTerminalFault, report, TerminalFault(terminal, code, severity))  # type: ignore[arg-type]
