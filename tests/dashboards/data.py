"""Known events for dashboard tests, written through the real tables and materialized view.

Rows go into ``events`` with the sink's own column list, so ``events_per_minute`` is filled by
the migration's materialized view exactly as in production. Tests keep the :class:`Known`
list and compute every expected number from it in plain Python.
"""

import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kernel.settings import Settings
from schemas.envelope import BRANDS, CHANNELS, PREFECTURES
from sinks.client import connect
from sinks.tables import dead_letters, events


@dataclass(frozen=True)
class Known:
    """One event as the dashboard sees it."""

    channel: str
    prefecture: str
    brand: str  # '' for equipment events
    occurred_at: datetime


def scatter(
    n: int, start: datetime, end: datetime, *, seed: int, weights: Sequence[float] | None = None
) -> list[Known]:
    """``n`` events spread over ``[start, end)`` across every channel, prefecture and brand."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    return [
        Known(
            channel=rng.choices(CHANNELS, weights=weights)[0],
            prefecture=rng.choice(PREFECTURES),
            brand=rng.choice((*BRANDS, "")),
            occurred_at=start + timedelta(seconds=rng.uniform(0, span)),
        )
        for _ in range(n)
    ]


def insert_events(settings: Settings, known: Iterable[Known]) -> None:
    rows = [_row(k) for k in known]
    client = connect(settings)
    try:
        client.execute(events.TABLE.insert.format(db=settings.clickhouse_database), rows)
    finally:
        client.disconnect()


def insert_dead_letters(settings: Settings, ids: Sequence[str], at: datetime) -> None:
    """One dead letter per id; repeat an id to check that duplicates collapse."""
    rows = [
        (i, "schema", "msisdn", "not a mobile number", "channel.events.raw", 0, n, at, "{}", 2,
         0, n, at)
        for n, i in enumerate(ids)
    ]  # fmt: skip
    client = connect(settings)
    try:
        client.execute(dead_letters.TABLE.insert.format(db=settings.clickhouse_database), rows)
    finally:
        client.disconnect()


def tables(settings: Settings) -> set[str]:
    """The tables of the test database: proof that nothing was dropped."""
    client = connect(settings)
    try:
        return {name for (name,) in client.execute("SHOW TABLES")}
    finally:
        client.disconnect()


def _row(k: Known) -> tuple[object, ...]:
    occurred = k.occurred_at.astimezone(UTC)
    return (
        str(uuid.uuid4()), f"{k.channel}.test_event", k.channel,
        occurred.replace(microsecond=0), occurred.microsecond // 1000,
        "" if not k.brand else uuid.uuid4().hex, "s1", k.prefecture, k.brand, "{}", 1, 0, 0,
        datetime.now(UTC).replace(microsecond=0),
    )  # fmt: skip
