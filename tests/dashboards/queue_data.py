"""Known IVR queue calls for the queue tests, written as the raw events the simulator emits.

A :class:`Call` expands into ``ivr.queue_entered``, then ``ivr.agent_answered`` or
``ivr.abandoned``, then ``ivr.call_ended`` (unless still waiting or talking), with the
attributes of :mod:`schemas.events`. Tests compute what they expect from the
:class:`RawEvent` list, never from the calls, so the check is against what ClickHouse holds.
"""

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec

from kernel.settings import Settings
from schemas.envelope import PREFECTURES
from sinks.client import connect
from sinks.tables import events


@dataclass(frozen=True)
class RawEvent:
    event_type: str
    session_id: str
    prefecture: str
    occurred_at: datetime
    attributes: dict[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class Call:
    prefecture: str
    entered: datetime
    outcome: Literal["answered", "abandoned", "waiting"]
    wait_s: float = 0.0
    agent: str = "A0001"
    talk_s: float | None = None
    """Seconds from answer to the end of the call; ``None``: still talking."""
    session: str = field(default_factory=lambda: f"ivr-{uuid.uuid4().hex[:12]}")

    def events(self) -> list[RawEvent]:
        def event(kind: str, at: datetime, **attributes: Any) -> RawEvent:
            return RawEvent(f"ivr.{kind}", self.session, self.prefecture, at, attributes)

        entered = event("queue_entered", self.entered, queue="agents", position=1,
                        busy_period=False)  # fmt: skip
        if self.outcome == "waiting":
            return [entered]
        left = self.entered + timedelta(seconds=self.wait_s)
        if self.outcome == "abandoned":
            return [
                entered,
                event("abandoned", left, wait_s=self.wait_s),
                event("call_ended", left, duration_s=self.wait_s, outcome="abandoned"),
            ]
        answered = event("agent_answered", left, agent_id=self.agent, wait_s=self.wait_s)
        if self.talk_s is None:
            return [entered, answered]
        ended = left + timedelta(seconds=self.talk_s)
        return [
            entered,
            answered,
            event("call_ended", ended, duration_s=self.wait_s + self.talk_s, outcome="agent"),
        ]


def random_calls(n: int, start: datetime, end: datetime, *, seed: int) -> list[Call]:
    """``n`` calls entering the queue in ``[start, end)``, every outcome and prefecture."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    calls = []
    for _ in range(n):
        outcome = rng.choices(("answered", "abandoned", "waiting"), weights=(7, 2, 1))[0]
        calls.append(
            Call(
                prefecture=rng.choice(PREFECTURES),
                entered=start + timedelta(seconds=rng.uniform(0, span)),
                outcome=outcome,  # type: ignore[arg-type]
                wait_s=round(rng.expovariate(1 / 25), 3) if outcome != "waiting" else 0.0,
                agent=f"A{rng.randrange(1, 30):04d}",
                talk_s=None if rng.random() < 0.1 else round(rng.uniform(30, 600), 3),
            )
        )
    return calls


def raw_events(calls: Iterable[Call]) -> list[RawEvent]:
    return [e for call in calls for e in call.events()]


def insert_calls(settings: Settings, calls: Iterable[Call]) -> list[RawEvent]:
    """Insert the calls' events; return them."""
    return insert_raw(settings, raw_events(calls))


def insert_raw(settings: Settings, raw: list[RawEvent]) -> list[RawEvent]:
    """Insert IVR events as they are; return them."""
    client = connect(settings)
    try:
        client.execute(
            events.TABLE.insert.format(db=settings.clickhouse_database), [_row(e) for e in raw]
        )
    finally:
        client.disconnect()
    return raw


def _row(e: RawEvent) -> tuple[object, ...]:
    occurred = e.occurred_at.astimezone(UTC)
    return (
        e.event_id, e.event_type, "ivr", occurred.replace(microsecond=0),
        occurred.microsecond // 1000, uuid.uuid4().hex, e.session_id, e.prefecture, "gotone",
        msgspec.json.encode(e.attributes).decode(), 1, 0, 0,
        datetime.now(UTC).replace(microsecond=0),
    )  # fmt: skip
