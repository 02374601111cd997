"""All channels merged into one time-ordered stream of encoded events.

Each channel is a stream of sessions; a session schedules all its events at once into one heap.
Because no session can produce an event before its own start, every event up to the earliest
next session start (the *frontier*) is final and can be released. The IVR's agent queue is
settled up to the frontier first, so waits depend on every caller who joined before.

Every random choice comes from ``random.Random`` instances derived from the seed (one per
channel, one for ids, one for malformed events), so a seed and the same options give the same
bytes, event ids included, and the valid stream does not change with ``bad_fraction``.
"""

import heapq
import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import msgspec

from channelhub.simulator.ids import EventIds
from channelhub.simulator.ivr import IvrHall
from channelhub.simulator.kiosk import KioskFaults, KioskHall, Terminals
from channelhub.simulator.load import LoadModel
from channelhub.simulator.malformed import MalformedFactory
from channelhub.simulator.population import Population
from channelhub.simulator.session import Session, Source
from channelhub.simulator.sms import SmsHall
from channelhub.simulator.web import OnlineHall
from kernel.clock import from_ms
from schemas.envelope import Attributes, Envelope
from schemas.events import EVENT_CLASSES, routing_key


@dataclass(frozen=True)
class Scenario:
    """What to simulate. Times are milliseconds since the epoch (simulated)."""

    seed: int
    start_ms: int
    subscribers: int = 100_000
    bad_fraction: float = 0.0
    live_from_ms: int | None = None  # from here on the rate is scaled to ``live_rate``
    live_rate: float = 0.0


class Emitted(NamedTuple):
    """One event as produced: its simulated time, Kafka key and bytes, and what it is."""

    t_ms: int
    key: bytes
    payload: bytes
    label: str  # the event type when valid, the malformed kind otherwise
    valid: bool


_TYPE_OF: dict[type[Envelope], str] = {cls: str(cls.__struct_config__.tag) for cls in EVENT_CLASSES}
_CHANNEL_OF: dict[type[Envelope], str] = {
    cls: event_type.partition(".")[0] for cls, event_type in _TYPE_OF.items()
}


def _rng(seed: int, stream: str) -> random.Random:
    """An independent generator per stream: adding draws to one never shifts another."""
    return random.Random(f"{seed}:{stream}")


class Engine:
    """Iterate to get the scenario's events in time order, forever."""

    def __init__(self, scenario: Scenario) -> None:
        if not 0.0 <= scenario.bad_fraction <= 1.0:
            raise ValueError(f"bad_fraction must be within 0..1, got {scenario.bad_fraction}")
        seed, start = scenario.seed, scenario.start_ms
        self._scenario = scenario
        self.load = LoadModel(
            scenario.subscribers, live_from_ms=scenario.live_from_ms, live_rate=scenario.live_rate
        )
        self.population = Population(scenario.subscribers, _rng(seed, "population"))
        self._pending: list[tuple[int, int, type[Envelope], Session, Attributes]] = []
        self._seq = itertools.count()
        self._ids = EventIds(_rng(seed, "ids"))
        self._bad_rng = _rng(seed, "malformed")
        self._malformed = MalformedFactory(self.population, self._bad_rng, EventIds(self._bad_rng))
        terminals = Terminals(_rng(seed, "terminals"))
        schedule, load, people = self._schedule, self.load, self.population
        self.ivr = IvrHall(people, load, start, _rng(seed, "ivr"), schedule)
        # The halls whose offer the run swaps for the live catalogue's.
        self.sms = SmsHall(people, load, start, _rng(seed, "sms"), schedule)
        self.web = OnlineHall("web", people, load, start, _rng(seed, "web"), schedule)
        self.wap = OnlineHall("wap", people, load, start, _rng(seed, "wap"), schedule)
        self.kiosk = KioskHall(terminals, people, load, start, _rng(seed, "kiosk"), schedule)
        self._sources: list[Source] = [
            self.ivr,
            self.sms,
            self.web,
            self.wap,
            self.kiosk,
            KioskFaults(terminals, load, start, _rng(seed, "faults"), schedule),
        ]

    def _schedule(
        self, t_ms: int, cls: type[Envelope], session: Session, attributes: Attributes
    ) -> None:
        heapq.heappush(self._pending, (t_ms, next(self._seq), cls, session, attributes))

    def __iter__(self) -> Iterator[Emitted]:
        pending, sources, ivr = self._pending, self._sources, self.ivr
        starts = [(source.next_start_ms, i) for i, source in enumerate(sources)]
        heapq.heapify(starts)
        encode = msgspec.json.Encoder().encode
        new_id = self._ids.new
        bad_fraction, bad_draw = self._scenario.bad_fraction, self._bad_rng.random
        make_malformed = self._malformed.make
        while True:
            frontier, index = starts[0]
            ivr.settle(frontier)
            while pending and pending[0][0] <= frontier:
                t_ms, _, cls, session, attributes = heapq.heappop(pending)
                while bad_fraction and bad_draw() < bad_fraction:
                    bad = make_malformed(t_ms)
                    yield Emitted(t_ms, bad.key, bad.payload, bad.kind, False)
                make: Callable[..., Envelope] = cls  # the concrete type has ``attributes``
                event = make(
                    event_id=new_id(t_ms),
                    schema_version=1,
                    channel=_CHANNEL_OF[cls],
                    occurred_at=from_ms(t_ms),
                    msisdn=session.msisdn,
                    session_id=session.session_id,
                    prefecture=session.prefecture,
                    brand=session.brand,
                    attributes=attributes,
                )
                yield Emitted(t_ms, routing_key(event), encode(event), _TYPE_OF[cls], True)
            source = sources[index]
            source.start_session()
            heapq.heapreplace(starts, (source.next_start_ms, index))
