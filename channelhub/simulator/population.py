"""The subscribers: who lives where, which brand they hold, and which channels they reach for.

A population of a million costs a few megabytes: subscribers are numbered, grouped by brand in
contiguous ranges, and each stores only its prefecture (one byte). The MSISDN is computed from
the number through a seeded bijection, so numbers are unique without a set and look random.
Activity is skewed (a few subscribers call often, most rarely), which gives repeat callers and
multi-channel journeys the way a real customer base does.
"""

import random
from typing import NamedTuple

from schemas import BRANDS, PREFECTURES

#: Relative subscriber counts of the 14 prefectures (Changsha, the capital, is the largest).
PREFECTURE_WEIGHTS: dict[str, float] = {
    "changsha": 14.0, "zhuzhou": 5.5, "xiangtan": 4.2, "hengyang": 8.6, "shaoyang": 7.4,
    "yueyang": 6.8, "changde": 6.9, "zhangjiajie": 1.8, "yiyang": 5.1, "chenzhou": 5.9,
    "yongzhou": 5.6, "huaihua": 5.0, "loudi": 4.3, "xiangxi": 2.9,
}  # fmt: skip

#: Easyown (mass pre-paid) is most, M-Zone the young, GoTone premium, some group customers.
BRAND_SHARES: dict[str, float] = {
    "easyown": 0.55,
    "mzone": 0.25,
    "gotone": 0.15,
    "enterprise": 0.05,
}

#: How strongly each brand uses each channel, relative to the average subscriber.
PROPENSITY: dict[str, dict[str, float]] = {
    "ivr": {"gotone": 1.4, "mzone": 0.7, "easyown": 1.0, "enterprise": 1.2},
    "sms": {"gotone": 0.9, "mzone": 1.6, "easyown": 1.0, "enterprise": 0.6},
    "web": {"gotone": 1.5, "mzone": 1.3, "easyown": 0.6, "enterprise": 1.8},
    "wap": {"gotone": 0.8, "mzone": 2.2, "easyown": 0.6, "enterprise": 0.5},
    "kiosk": {"gotone": 0.5, "mzone": 0.9, "easyown": 1.3, "enterprise": 0.3},
}

#: China Mobile number segments of the subscriber base, and the newer ones sold online.
SUBSCRIBER_PREFIXES: tuple[str, ...] = (
    "134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159",
    "182", "183", "184", "187", "188",
)  # fmt: skip
NEW_NUMBER_PREFIXES: tuple[str, ...] = ("178", "195", "198")

#: Exponent of the activity skew: index ``n * u**SKEW`` favours the low-numbered subscribers.
ACTIVITY_SKEW = 1.6
_NUMBERS = 100_000_000  # eight digits after the prefix


class Subscriber(NamedTuple):
    msisdn: str
    prefecture: str
    brand: str


class Population:
    """``size`` subscribers drawn from ``rng``; :meth:`pick` chooses who uses a channel next."""

    def __init__(self, size: int, rng: random.Random) -> None:
        if not 1 <= size < _NUMBERS:
            raise ValueError(f"population size must be 1..{_NUMBERS - 1}, got {size}")
        self.size = size
        self._multiplier = rng.randrange(1, _NUMBERS // 10) * 10 + rng.choice((1, 3, 7, 9))
        self._offset = rng.randrange(_NUMBERS)
        self._inverse = pow(self._multiplier, -1, _NUMBERS)  # ends in 1, 3, 7 or 9: invertible
        self._ranges: dict[str, tuple[int, int]] = {}
        first = 0
        for i, brand in enumerate(BRANDS):
            count = size - first if i == len(BRANDS) - 1 else round(size * BRAND_SHARES[brand])
            self._ranges[brand] = (first, count)
            first += count
        self._prefecture_of = bytearray(
            rng.choices(
                range(len(PREFECTURES)), [PREFECTURE_WEIGHTS[p] for p in PREFECTURES], k=size
            )
        )
        self._brand_choice: dict[str, tuple[list[str], list[float]]] = {}
        for channel, weights in PROPENSITY.items():
            brands = [b for b in BRANDS if self._ranges[b][1] > 0]
            cumulative, total = [], 0.0
            for brand in brands:
                total += self._ranges[brand][1] * weights[brand]
                cumulative.append(total)
            self._brand_choice[channel] = (brands, cumulative)

    def msisdn(self, index: int) -> str:
        """The number of subscriber ``index``: unique because ``index → number`` is a bijection."""
        prefix = SUBSCRIBER_PREFIXES[index % len(SUBSCRIBER_PREFIXES)]
        return f"{prefix}{(index * self._multiplier + self._offset) % _NUMBERS:08d}"

    def find(self, msisdn: str) -> Subscriber | None:
        """The subscriber with this number, or None if it is not one of this population's.

        Inverts :meth:`msisdn` instead of keeping a table of numbers, so a process that only
        answers for subscribers (the simulated handsets) looks them up for free.
        """
        prefix, digits = msisdn[:3], msisdn[3:]
        if len(digits) != 8 or not (digits.isascii() and digits.isdigit()):
            return None
        index = (int(digits) - self._offset) * self._inverse % _NUMBERS
        if index >= self.size or SUBSCRIBER_PREFIXES[index % len(SUBSCRIBER_PREFIXES)] != prefix:
            return None
        brand = next(b for b, (first, n) in self._ranges.items() if first <= index < first + n)
        return Subscriber(msisdn, PREFECTURES[self._prefecture_of[index]], brand)

    def pick(self, channel: str, rng: random.Random) -> Subscriber:
        """Someone about to use ``channel``: brand by propensity, then an activity-skewed member."""
        brands, cumulative = self._brand_choice[channel]
        brand = rng.choices(brands, cum_weights=cumulative)[0]
        first, count = self._ranges[brand]
        index = first + int(count * rng.random() ** ACTIVITY_SKEW)
        return Subscriber(self.msisdn(index), PREFECTURES[self._prefecture_of[index]], brand)


def new_number(rng: random.Random) -> str:
    """A number from the stock sold online, outside the subscribers' own segments."""
    return f"{rng.choice(NEW_NUMBER_PREFIXES)}{rng.randrange(_NUMBERS):08d}"
