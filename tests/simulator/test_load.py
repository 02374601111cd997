"""The load model: daily curve, busy periods, arrival counts, live scaling."""

import math
import random
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest

from channelhub.simulator.load import (
    CHANNELS,
    EVENTS_PER_SESSION,
    HOUR_MS,
    HOURLY,
    LOCAL_OFFSET_MS,
    Arrivals,
    LoadModel,
    is_busy_day,
)
from kernel.clock import to_ms

ORDINARY_TUESDAY = to_ms(datetime(2024, 5, 14, tzinfo=UTC)) - LOCAL_OFFSET_MS  # local midnight


@pytest.mark.parametrize(
    ("day", "busy"),
    [
        (date(2024, 5, 1), True), (date(2024, 5, 3), True), (date(2024, 5, 4), False),
        (date(2024, 5, 28), False), (date(2024, 5, 29), True), (date(2024, 5, 31), True),
        (date(2024, 2, 26), False), (date(2024, 2, 27), True), (date(2023, 2, 26), True),
    ],
)  # fmt: skip
def test_busy_days_are_the_first_and_last_three_of_the_month(day: date, busy: bool) -> None:
    assert is_busy_day(day) is busy


def test_curves_have_a_night_trough_and_daytime_peaks() -> None:
    for channel, curve in HOURLY.items():
        assert sum(curve) == pytest.approx(24)
        assert max(curve[2:5]) < 0.2 < 1.0 < max(curve[9:12]), channel


def test_busy_periods_raise_the_ivr_load_most() -> None:
    load = LoadModel(100_000)
    ordinary, busy = ORDINARY_TUESDAY + 10 * HOUR_MS, to_ms(datetime(2024, 5, 2, 2, tzinfo=UTC))
    assert load.is_busy(busy)
    assert not load.is_busy(ordinary)
    ratio = {c: load.session_rate(c, busy) / load.session_rate(c, ordinary) for c in CHANNELS}
    assert max(ratio, key=ratio.__getitem__) == "ivr"
    assert load.planned_rate("ivr", busy) < load.session_rate("ivr", busy)


def test_arrivals_follow_the_rate_hour_by_hour() -> None:
    load = LoadModel(200_000)
    arrivals = Arrivals(
        lambda t: load.session_rate("ivr", t),
        load.next_change_ms,
        ORDINARY_TUESDAY,
        random.Random(1),
    )
    per_hour: Counter[int] = Counter()
    while (t := arrivals.next()) < ORDINARY_TUESDAY + 24 * HOUR_MS:
        per_hour[(t - ORDINARY_TUESDAY) // HOUR_MS] += 1
    for hour in range(24):
        expected = load.session_rate("ivr", ORDINARY_TUESDAY + hour * HOUR_MS) * 3600
        # Poisson counts: within four standard deviations
        assert per_hour[hour] == pytest.approx(expected, abs=4 * math.sqrt(expected)), hour


def test_live_phase_is_scaled_to_the_asked_event_rate() -> None:
    live_from = ORDINARY_TUESDAY + 3 * HOUR_MS  # the night trough: scaling must lift it
    load = LoadModel(100_000, live_from_ms=live_from, live_rate=500.0)
    before = sum(load.session_rate(c, live_from - 1) * EVENTS_PER_SESSION[c] for c in CHANNELS)
    after = sum(load.session_rate(c, live_from) * EVENTS_PER_SESSION[c] for c in CHANNELS)
    assert before < 20
    assert after == pytest.approx(500.0)


def test_live_phase_without_a_rate_continues_at_the_population_rate() -> None:
    live_from = ORDINARY_TUESDAY + 3 * HOUR_MS
    natural = LoadModel(100_000)
    live = LoadModel(100_000, live_from_ms=live_from, live_rate=0.0)
    for t in (live_from - 1, live_from, live_from + 5 * HOUR_MS):
        assert live.session_rate("ivr", t) == natural.session_rate("ivr", t)


def test_events_per_session_constants_match_the_generator(
    sessions: dict[str, list[dict[str, Any]]],
) -> None:
    """The live rate relies on them: keep them within 10% of what the simulator produces."""
    per_channel: dict[str, list[int]] = {c: [] for c in CHANNELS}
    for session_id, session in sessions.items():
        channel = session_id.partition("-")[0]
        if channel in per_channel:
            per_channel[channel].append(len(session))
    for channel, sizes in per_channel.items():
        measured = sum(sizes) / len(sizes)
        assert EVENTS_PER_SESSION[channel] == pytest.approx(measured, rel=0.1), channel


def test_arrivals_switch_to_the_live_rate_at_once_even_mid_quarter_hour() -> None:
    live_from = ORDINARY_TUESDAY + 3 * HOUR_MS + 7 * 60_000
    load = LoadModel(100_000, live_from_ms=live_from, live_rate=1_000.0)
    arrivals = load.arrivals("ivr", live_from - 60_000, random.Random(2))
    before = after = 0
    while (t := arrivals.next()) < live_from + 60_000:
        if t < live_from:
            before += 1
        else:
            after += 1
    expected = load.session_rate("ivr", live_from) * 60
    assert before < 10
    assert after == pytest.approx(expected, abs=4 * math.sqrt(expected))
