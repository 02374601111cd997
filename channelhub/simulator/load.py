"""How much traffic each channel gets, when: the daily curve, busy periods, arrival times.

Rates are sessions per second for the whole population, the product of a per-subscriber daily
use, the channel's hour-of-day curve (local time, UTC+8), a weekend factor, and a busy-period
factor on the first three and last three days of the month, when bills and top-ups send far
more people to the hotline. In the live phase the same shape is scaled so the expected event
rate is the rate asked for. Arrivals are a non-homogeneous Poisson process sampled by time
rescaling: one exponential draw per session, whatever the rate.
"""

import calendar
import random
from collections.abc import Callable
from datetime import date, timedelta

SECOND_MS = 1_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
LOCAL_OFFSET_MS = 8 * HOUR_MS  # Hunan is UTC+8 all year
SLOT_MS = 15 * 60_000  # rates are constant within a quarter hour (and change going live)
_EPOCH_DATE = date(1970, 1, 1)

CHANNELS = ("ivr", "sms", "web", "wap", "kiosk")

#: Sessions per subscriber per day on an ordinary weekday (the IVR carries the most
#: self-service volume, the SMS hall is second).
SESSIONS_PER_SUBSCRIBER_DAY: dict[str, float] = {
    "ivr": 0.08, "sms": 0.05, "web": 0.012, "wap": 0.006, "kiosk": 0.008,
}  # fmt: skip

#: Mean valid events per session, measured on the generator (tests keep them honest); used to
#: turn an events-per-second target into session rates.
EVENTS_PER_SESSION: dict[str, float] = {
    "ivr": 5.4, "sms": 4.4, "web": 3.4, "wap": 3.3, "kiosk": 2.1,
}  # fmt: skip

#: Load multiplier on busy days (first three and last three days of the month).
BUSY_FACTOR: dict[str, float] = {"ivr": 1.6, "sms": 1.35, "web": 1.2, "wap": 1.2, "kiosk": 1.3}
#: Share of the busy-day surge the staffing plan provides for: the rest is why callers wait.
PLANNED_BUSY_SHARE = 0.15
WEEKEND_FACTOR: dict[str, float] = {"ivr": 0.8, "sms": 0.9, "web": 1.1, "wap": 1.15, "kiosk": 1.2}

#: Kiosk faults per kiosk session (faults follow use: paper runs out, cash boxes fill up).
FAULTS_PER_KIOSK_SESSION = 0.02

_RAW_CURVES: dict[str, tuple[float, ...]] = {
    # Night trough, morning peak 9-11, afternoon 14-17, evening 19-21.
    "ivr": (0.15, 0.08, 0.05, 0.04, 0.04, 0.08, 0.25, 0.6, 1.2, 1.7, 1.8, 1.6,
            1.2, 1.3, 1.6, 1.7, 1.6, 1.4, 1.3, 1.5, 1.6, 1.3, 0.8, 0.4),
    "sms": (0.3, 0.15, 0.08, 0.06, 0.06, 0.1, 0.3, 0.7, 1.1, 1.4, 1.5, 1.4,
            1.3, 1.3, 1.4, 1.4, 1.4, 1.3, 1.3, 1.5, 1.6, 1.5, 1.1, 0.6),
    "web": (0.3, 0.12, 0.06, 0.04, 0.04, 0.06, 0.15, 0.4, 0.9, 1.3, 1.4, 1.3,
            1.1, 1.2, 1.4, 1.4, 1.3, 1.2, 1.3, 1.7, 2.0, 2.0, 1.6, 0.9),
    "wap": (0.5, 0.25, 0.1, 0.06, 0.05, 0.08, 0.3, 0.8, 1.1, 1.1, 1.1, 1.3,
            1.5, 1.3, 1.1, 1.1, 1.1, 1.3, 1.5, 1.8, 2.0, 2.0, 1.7, 1.1),
    "kiosk": (0.1, 0.05, 0.03, 0.03, 0.03, 0.05, 0.2, 0.6, 1.3, 1.8, 1.9, 1.7,
              1.4, 1.5, 1.8, 1.8, 1.7, 1.6, 1.5, 1.4, 1.2, 0.9, 0.5, 0.2),
}  # fmt: skip
#: Hour-of-day curves normalised to a mean of 1, indexed by local hour.
HOURLY: dict[str, tuple[float, ...]] = {
    channel: tuple(v * 24 / sum(curve) for v in curve) for channel, curve in _RAW_CURVES.items()
}


def local_day(t_ms: int) -> date:
    return _EPOCH_DATE + timedelta(days=(t_ms + LOCAL_OFFSET_MS) // DAY_MS)


def is_busy_day(day: date) -> bool:
    """The first three and the last three days of a month: bills, top-ups, package changes."""
    last = calendar.monthrange(day.year, day.month)[1]
    return day.day <= 3 or day.day > last - 3


class LoadModel:
    """Session rates per channel at any simulated time, for ``subscribers`` subscribers.

    From ``live_from_ms`` on, rates are scaled so the expected total is ``live_rate`` events per
    second while keeping each channel's share of the moment; a ``live_rate`` of 0 keeps the
    population's own rate.
    """

    def __init__(
        self, subscribers: int, *, live_from_ms: int | None = None, live_rate: float = 0.0
    ) -> None:
        self._daily = {c: subscribers * n / 86_400 for c, n in SESSIONS_PER_SUBSCRIBER_DAY.items()}
        self._live_from_ms = live_from_ms
        self._live_rate = live_rate
        self._day_index = -1
        self._day: tuple[bool, bool] = (False, False)  # (busy, weekend) of _day_index

    def _day_kind(self, t_ms: int) -> tuple[bool, bool]:
        index = (t_ms + LOCAL_OFFSET_MS) // DAY_MS
        if index != self._day_index:
            day = local_day(t_ms)
            self._day_index, self._day = index, (is_busy_day(day), day.weekday() >= 5)
        return self._day

    def is_busy(self, t_ms: int) -> bool:
        return self._day_kind(t_ms)[0]

    def _natural(self, channel: str, t_ms: int, busy_share: float) -> float:
        busy, weekend = self._day_kind(t_ms)
        hour = (t_ms + LOCAL_OFFSET_MS) // HOUR_MS % 24
        rate = self._daily[channel] * HOURLY[channel][hour]
        if weekend:
            rate *= WEEKEND_FACTOR[channel]
        if busy:
            rate *= 1 + busy_share * (BUSY_FACTOR[channel] - 1)
        return rate

    def _scale(self, t_ms: int) -> float:
        if self._live_from_ms is None or not self._live_rate or t_ms < self._live_from_ms:
            return 1.0
        return self._live_rate / self.event_rate(t_ms)

    def event_rate(self, t_ms: int) -> float:
        """Expected valid events per second at ``t_ms`` without live scaling."""
        return sum(self._natural(c, t_ms, 1.0) * EVENTS_PER_SESSION[c] for c in CHANNELS)

    def session_rate(self, channel: str, t_ms: int) -> float:
        """Sessions per second starting on ``channel`` at ``t_ms``."""
        return self._natural(channel, t_ms, 1.0) * self._scale(t_ms)

    def planned_rate(self, channel: str, t_ms: int) -> float:
        """The rate the workforce plan expected: it under-provides for busy-day surges."""
        return self._natural(channel, t_ms, PLANNED_BUSY_SHARE) * self._scale(t_ms)

    def next_change_ms(self, t_ms: int) -> int:
        """The next time after ``t_ms`` when rates may change: a quarter hour or going live."""
        change = (t_ms // SLOT_MS + 1) * SLOT_MS
        if self._live_from_ms is not None and t_ms < self._live_from_ms < change:
            return self._live_from_ms
        return change

    def fault_rate(self, t_ms: int) -> float:
        return self.session_rate("kiosk", t_ms) * FAULTS_PER_KIOSK_SESSION

    def arrivals(self, channel: str, start_ms: int, rng: random.Random) -> "Arrivals":
        """Session starts on ``channel`` from ``start_ms``."""
        return Arrivals(lambda t: self.session_rate(channel, t), self.next_change_ms, start_ms, rng)


class Arrivals:
    """Start times (ms) of one stream of sessions whose rate ``rate(t_ms)`` (per second) holds
    until ``next_change(t_ms)``."""

    def __init__(
        self,
        rate: Callable[[int], float],
        next_change: Callable[[int], int],
        start_ms: int,
        rng: random.Random,
    ) -> None:
        self._rate = rate
        self._next_change = next_change
        self._rng = rng
        self._t = float(start_ms)
        self._slot_end = float(start_ms)
        self._per_ms = 0.0

    def next(self) -> int:
        need = self._rng.expovariate(1.0)  # unit-rate clock; the rate integral must reach it
        t = self._t
        while True:
            if t >= self._slot_end:
                self._slot_end = self._next_change(int(t))
                self._per_ms = self._rate(int(t)) / SECOND_MS
            room = (self._slot_end - t) * self._per_ms
            if need < room:
                t += need / self._per_ms
                break
            need -= room
            t = self._slot_end
        self._t = t
        return int(t)
