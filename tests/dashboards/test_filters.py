"""The filter model: what the page's controls may ask for, and the messages when they may not."""

from datetime import UTC, datetime, timedelta

import pytest

from dashboards.filters import (
    BUCKETS_S,
    MAX_POINTS,
    MAX_SPAN,
    FilterError,
    VolumeFilter,
    from_controls,
)
from dashboards.labels import BRAND_LABELS, CHANNEL_COLORS, CHANNEL_LABELS, PREFECTURE_LABELS
from schemas.envelope import BRANDS, CHANNELS, PREFECTURES

NOW = datetime(2026, 5, 1, 3, 4, 5, 678_000, tzinfo=UTC)
HOSTILE = [
    "'; DROP TABLE events; --",
    "ivr' OR '1'='1",
    'ivr"',
    "长沙",
    "📞",
    "ivr\x00",
    "IVR",
    " ivr",
    "",
]


def controls(**overrides: object) -> VolumeFilter:
    values: dict[str, object] = {
        "channels": None,
        "prefectures": None,
        "brands": None,
        "preset": "24h",
        "start_text": None,
        "end_text": None,
        "now": NOW,
    }
    values.update(overrides)
    return from_controls(**values)  # type: ignore[arg-type]


def test_nothing_selected_means_everything_over_the_default_day() -> None:
    f = controls()
    assert (f.channels, f.prefectures, f.brands) == ((), (), ())
    assert f.end == datetime(2026, 5, 1, 3, 5, tzinfo=UTC)  # includes the minute still filling
    assert f.end - f.start == timedelta(hours=24)


@pytest.mark.parametrize(
    ("preset", "span"),
    [("1h", timedelta(hours=1)), ("6h", timedelta(hours=6)), ("7d", timedelta(days=7))],
)
def test_presets_end_after_the_current_minute(preset: str, span: timedelta) -> None:
    f = controls(preset=preset)
    assert f.end == datetime(2026, 5, 1, 3, 5, tzinfo=UTC)
    assert f.end - f.start == span


def test_selections_are_kept_once_each_in_the_order_given() -> None:
    f = controls(channels=["sms", "ivr", "sms"], prefectures="changsha", brands=["mzone"])
    assert f.channels == ("sms", "ivr")
    assert f.prefectures == ("changsha",)
    assert f.brands == ("mzone",)


@pytest.mark.parametrize("field", ["channels", "prefectures", "brands"])
@pytest.mark.parametrize("value", HOSTILE)
def test_values_outside_the_vocabulary_are_refused_by_name(field: str, value: str) -> None:
    with pytest.raises(FilterError, match=rf"unknown {field[:-1]} ") as raised:
        controls(**{field: [value]})
    assert repr(value)[:20] in str(raised.value)


def test_every_vocabulary_value_is_accepted_and_labelled() -> None:
    f = controls(channels=list(CHANNELS), prefectures=list(PREFECTURES), brands=list(BRANDS))
    assert (f.channels, f.prefectures, f.brands) == (CHANNELS, PREFECTURES, BRANDS)
    assert set(CHANNEL_LABELS) == set(CHANNEL_COLORS) == set(CHANNELS)
    assert set(PREFECTURE_LABELS) == set(PREFECTURES)
    assert set(BRAND_LABELS) == set(BRANDS)


def test_custom_range_is_shanghai_time_widened_to_whole_minutes() -> None:
    f = controls(preset="custom", start_text="2026-05-01 08:00:30", end_text="2026-05-01T09:15:01")
    assert f.start == datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
    assert f.end == datetime(2026, 5, 1, 1, 16, tzinfo=UTC)


def test_custom_range_honours_an_explicit_offset() -> None:
    f = controls(preset="custom", start_text="2026-05-01T00:00Z", end_text="2026-05-02")
    assert f.start == datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
    assert f.end == datetime(2026, 5, 1, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (None, "2026-05-01 09:00", "enter the start time"),
        ("2026-05-01 08:00", "  ", "enter the end time"),
        ("yesterday", "2026-05-01 09:00", "start 'yesterday' is not a time like"),
        ("2026-05-01 08:00", "'; DROP TABLE events; --", "end \"'; DROP TABLE"),
        ("2026-05-01 08:00", "2026-05-01 08:00", "must be after start"),
        ("2026-05-01 09:00", "2026-05-01 08:00", "must be after start"),
        ("1999-12-31 00:00", "2000-01-02 00:00", "outside 2000-2100"),
        ("2026-01-01 00:00", "2026-06-01 00:00", f"at most {MAX_SPAN.days} days"),
        ("2026-05-01 08:00", "x" * 500, "…"),
    ],
)
def test_bad_custom_ranges_say_what_is_wrong(start: str, end: str, message: str) -> None:
    with pytest.raises(FilterError) as raised:
        controls(preset="custom", start_text=start, end_text=end)
    assert message in str(raised.value)
    assert len(str(raised.value)) < 200


@pytest.mark.parametrize("preset", [None, "", "2h", "24h; DROP"])
def test_unknown_presets_are_refused(preset: str | None) -> None:
    with pytest.raises(FilterError, match=r"time range .* is not one of 1h, 6h, 24h, 7d, custom"):
        controls(preset=preset)


def test_the_model_itself_refuses_partial_minutes_and_naive_times() -> None:
    with pytest.raises(ValueError, match="whole minute"):
        VolumeFilter(start=NOW - timedelta(hours=1), end=NOW)
    with pytest.raises(ValueError, match="timezone"):
        VolumeFilter(start=datetime(2026, 5, 1), end=datetime(2026, 5, 2))


@pytest.mark.parametrize(
    ("span", "bucket"),
    [
        (timedelta(minutes=1), 60),
        (timedelta(hours=1), 60),
        (timedelta(hours=6), 60),
        (timedelta(hours=24), 300),
        (timedelta(days=7), 1800),
        (timedelta(days=92), 21_600),
    ],
)
def test_bucket_keeps_charts_within_a_few_hundred_points(span: timedelta, bucket: int) -> None:
    start = datetime(2026, 5, 1, tzinfo=UTC)
    f = VolumeFilter(start=start, end=start + span)
    assert f.bucket_seconds == bucket
    assert span.total_seconds() / f.bucket_seconds <= MAX_POINTS
    assert all(86_400 % b == 0 for b in BUCKETS_S)
