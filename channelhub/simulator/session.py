"""What every channel simulator shares: who a session is about, and how events are scheduled.

A channel simulator starts one session (a call, an SMS dialogue, a web visit) at a time and
schedules all its events at once, with their future timestamps; the engine keeps them in a
heap and releases them in time order. Events carry their attributes struct and the
:class:`Session` they belong to; the envelope is built only when the event is emitted.
"""

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

from schemas.envelope import Attributes, Envelope

if TYPE_CHECKING:
    from channelhub.simulator.load import Arrivals


class Session(NamedTuple):
    msisdn: str | None
    session_id: str
    prefecture: str
    brand: str | None


#: ``schedule(t_ms, event_class, session, attributes)`` queues one event.
Schedule = Callable[[int, type[Envelope], Session, Attributes], None]


class Source(Protocol):
    """A stream of sessions: when the next one starts, and how to generate it."""

    next_start_ms: int

    def start_session(self) -> None:
        """Schedule every event of the session starting at ``next_start_ms``; advance it."""


class SessionIds:
    """Session ids like ``ivr-3fa9c2-1b``: channel, a per-run salt from the seed, a counter."""

    def __init__(self, prefix: str, rng: random.Random) -> None:
        self._stem = f"{prefix}-{rng.getrandbits(24):06x}-"
        self._count = 0

    def next(self) -> str:
        self._count += 1
        return f"{self._stem}{self._count:x}"


class Hall:
    """What every channel simulator keeps: its randomness, its schedule, ids and arrivals."""

    def __init__(
        self, id_prefix: str, arrivals: "Arrivals", rng: random.Random, schedule: Schedule
    ) -> None:
        self._rng = rng
        self._schedule = schedule
        self._ids = SessionIds(id_prefix, rng)
        self._arrivals = arrivals
        self.next_start_ms = arrivals.next()

    def _advance(self) -> int:
        """The start of the session to generate now; moves ``next_start_ms`` to the next."""
        start = self.next_start_ms
        self.next_start_ms = self._arrivals.next()
        return start


def seconds(rng: random.Random, low: float, high: float) -> int:
    """A uniform duration between ``low`` and ``high`` seconds, in milliseconds."""
    return int(rng.uniform(low, high) * 1000)
