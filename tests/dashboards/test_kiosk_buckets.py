"""The buckets the kiosks' terminals panel reads cover its lookback and range exactly: every
minute once, each bucket whole and inside one of the two, never straddling the range's start."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from dashboards.queries import kiosks
from sinks.tables.kiosk_rollups import LEVELS

MINUTE = 60
#: Whole minutes from 2020 to 2030, as the pages' ranges are.
minutes = st.integers(1_577_836_800 // MINUTE, 1_893_456_000 // MINUTE)


def _spans(start: datetime, end: datetime) -> list[tuple[int, int, int]]:
    """(seconds of the level, from, to) of every bucket range :func:`kiosks._query` reads."""
    _, params = kiosks._query(start, end)
    return [
        (seconds, params[f"{bucket}_{i}_from"], params[f"{bucket}_{i}_to"])
        for _, bucket, seconds in LEVELS
        for i in range(len(params))
        if f"{bucket}_{i}_from" in params
    ]


@given(minutes, st.integers(0, 10 * 24 * 60))
def test_the_buckets_tile_the_lookback_and_the_range(first: int, length: int) -> None:
    start = datetime.fromtimestamp(first * MINUTE, UTC)
    end = start + timedelta(minutes=length)
    low, cut, high = (int(t.timestamp()) for t in (min(start, end - kiosks.LOOKBACK), start, end))
    spans = sorted(_spans(start, end), key=lambda s: s[1])
    covered = low
    for seconds, since, until in spans:
        assert since == covered  # no gap, no overlap
        assert since < until
        assert since % seconds == 0  # whole buckets
        assert until % seconds == 0
        assert not since < cut < until  # the range's start is a bucket edge
        covered = until
    assert covered == high


def test_a_day_and_its_week_read_whole_days() -> None:
    end = datetime(2026, 12, 7, 9, 41, tzinfo=UTC)
    spans = _spans(end - timedelta(days=1), end)
    days = [s for s in spans if s[0] == 86_400]
    assert sum(until - since for _, since, until in days) == 5 * 86_400
    assert len(spans) <= 12
