"""A large simulated sample shared by the simulator tests (generated once, in memory)."""

import itertools
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from channelhub.simulator.engine import Emitted, Engine, Scenario
from kernel.clock import to_ms

#: Ten days from 25 May 2024: ordinary days, the month-end and month-start busy periods.
SAMPLE_START_MS = to_ms(datetime(2024, 5, 25, tzinfo=UTC))
SAMPLE_SIZE = 150_000


@pytest.fixture(scope="session")
def emitted() -> list[Emitted]:
    engine = Engine(Scenario(seed=3, start_ms=SAMPLE_START_MS, subscribers=20_000))
    return list(itertools.islice(engine, SAMPLE_SIZE))


@pytest.fixture(scope="session")
def events(emitted: list[Emitted]) -> list[dict[str, Any]]:
    """The sample decoded as plain dicts."""
    return [msgspec.json.decode(item.payload) for item in emitted]


@pytest.fixture(scope="session")
def sessions(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Events grouped by session id, in stream order."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        grouped.setdefault(event["session_id"], []).append(event)
    return grouped
