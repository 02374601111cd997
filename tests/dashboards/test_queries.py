"""The volume queries against a real ClickHouse, every number checked against plain Python.

Known events go in through ``events`` (so the materialized view fills ``events_per_minute`` as
in production), in several inserts so SummingMergeTree parts are still unmerged when read.
"""

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_driver import Client

from dashboards import db
from dashboards.filters import SHANGHAI, FilterError, VolumeFilter, from_controls
from dashboards.queries import volume as queries
from kernel.settings import Settings
from schemas.envelope import CHANNELS, PREFECTURES
from tests.dashboards.data import (
    Known,
    insert_dead_letters,
    insert_events,
    scatter,
    tables,
)
from tests.dashboards.test_filters import HOSTILE

pytestmark = pytest.mark.integration

# 07:07 Shanghai: not on a 5-minute boundary, so the first and last buckets are partial.
START = datetime(2026, 3, 9, 23, 7, tzinfo=UTC)
END = START + timedelta(hours=24)

FILTERS: list[dict[str, tuple[str, ...]]] = [
    {},
    {"channels": ("ivr", "sms")},
    {"prefectures": ("changsha", "xiangxi")},
    {"brands": ("mzone",)},
    {"channels": ("kiosk",), "prefectures": ("zhuzhou",), "brands": ("gotone", "easyown")},
]


@pytest.fixture
def known(migrated: Settings) -> list[Known]:
    """3,000 events inside the range in three inserts, plus events just outside it."""
    inside = scatter(3000, START, END, seed=7, weights=[6, 4, 2, 1, 1, 1])
    edges = [
        Known("ivr", "changsha", "gotone", START),  # first instant: in
        Known("ivr", "changsha", "gotone", END - timedelta(milliseconds=1)),  # last: in
        Known("ivr", "changsha", "gotone", END),  # end is exclusive: out
        Known("sms", "loudi", "mzone", START - timedelta(seconds=1)),  # before: out
    ]
    for part in (inside[:1000], inside[1000:2000], inside[2000:], edges):
        insert_events(migrated, part)
    return [*inside, *edges]


def selected(known: list[Known], f: VolumeFilter) -> list[Known]:
    """The events ``f`` describes, decided in Python."""
    return [
        k
        for k in known
        if f.start <= k.occurred_at < f.end
        and (not f.channels or k.channel in f.channels)
        and (not f.prefectures or k.prefecture in f.prefectures)
        and (not f.brands or k.brand in f.brands)
    ]


@pytest.mark.parametrize("fields", FILTERS, ids=lambda f: ",".join(f) or "all")
def test_totals_and_splits_equal_python_counts(
    migrated: Settings, known: list[Known], fields: dict[str, tuple[str, ...]]
) -> None:
    f = VolumeFilter(start=START, end=END, **fields)  # type: ignore[arg-type]
    expected = selected(known, f)
    with db.client(migrated) as client:
        result = queries.breakdown(client, f)

    assert result.total == len(expected) > 0
    per_channel = Counter(k.channel for k in expected)
    assert result.by_channel() == {c: per_channel[c] for c in CHANNELS}
    by_prefecture: defaultdict[str, Counter[str]] = defaultdict(Counter)
    by_brand: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for k in expected:
        by_prefecture[k.prefecture][k.channel] += 1
        by_brand[k.brand][k.channel] += 1
    assert {p: c for p, c in result.by_prefecture().items() if c} == by_prefecture
    assert set(result.by_prefecture()) >= set(PREFECTURES)
    assert {b: c for b, c in result.by_brand().items() if c} == by_brand


def shanghai_bucket(moment: datetime, size_s: int) -> datetime:
    """The bucket start of ``moment``: whole ``size_s`` steps after Shanghai midnight."""
    local = moment.astimezone(SHANGHAI)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    steps = (local - midnight) // timedelta(seconds=size_s)
    return (midnight + steps * timedelta(seconds=size_s)).astimezone(UTC)


@pytest.mark.parametrize("fields", FILTERS[:2], ids=["all", "ivr+sms"])
def test_series_counts_and_rates_equal_python(
    migrated: Settings, known: list[Known], fields: dict[str, tuple[str, ...]]
) -> None:
    f = VolumeFilter(start=START, end=END, **fields)  # type: ignore[arg-type]
    with db.client(migrated) as client:
        series = queries.series(client, f)

    size = series.bucket_seconds
    assert size == 300
    counts: Counter[tuple[datetime, str]] = Counter(
        (shanghai_bucket(k.occurred_at, size), k.channel) for k in selected(known, f)
    )
    minutes_in_range: Counter[datetime] = Counter(
        shanghai_bucket(START + timedelta(minutes=m), size) for m in range(24 * 60)
    )
    assert series.buckets == sorted(minutes_in_range)
    assert series.buckets[0] < START < series.buckets[1]  # a partial first bucket
    assert set(series.counts) == set(f.channels or CHANNELS)
    for channel, values in series.counts.items():
        assert values == [counts[(b, channel)] for b in series.buckets]
        assert series.rates[channel] == pytest.approx(
            [counts[(b, channel)] / minutes_in_range[b] for b in series.buckets]
        )
    assert sum(map(sum, series.counts.values())) == len(selected(known, f))


def test_hour_buckets_start_at_shanghai_midnight(migrated: Settings) -> None:
    day = datetime(2026, 3, 10, tzinfo=SHANGHAI)  # 16:00 UTC the day before
    insert_events(migrated, [Known("web", "yiyang", "gotone", day + timedelta(minutes=5))])
    f = VolumeFilter(start=day - timedelta(days=10), end=day + timedelta(days=5))
    with db.client(migrated) as client:
        series = queries.series(client, f)
    assert series.bucket_seconds == 3600
    hit = series.counts["web"].index(1)
    assert series.buckets[hit] == day
    assert series.buckets[hit].astimezone(SHANGHAI).hour == 0


def test_health_counts_the_last_complete_minute_and_distinct_dead_letters(
    migrated: Settings,
) -> None:
    now = datetime(2026, 3, 10, 8, 30, 40, tzinfo=UTC)
    last_minute = datetime(2026, 3, 10, 8, 29, tzinfo=UTC)
    insert_events(
        migrated,
        [
            *scatter(17, last_minute, last_minute + timedelta(minutes=1), seed=1),
            *scatter(5, now.replace(second=0), now, seed=2),  # current minute: not complete
            *scatter(9, last_minute - timedelta(minutes=3), last_minute, seed=3),
        ],
    )
    insert_dead_letters(migrated, ["a", "b"], now)
    insert_dead_letters(migrated, ["b", "c"], now)  # "b" again: one dead letter, twice seen
    with db.client(migrated) as client:
        health = queries.health(client, now)
    assert health.events_last_minute == 17
    assert health.newest_minute == now.replace(second=0)
    assert health.dead_letters == 3


def test_health_of_an_empty_database(migrated: Settings) -> None:
    with db.client(migrated) as client:
        health = queries.health(client, datetime.now(UTC))
    assert (health.events_last_minute, health.newest_minute, health.dead_letters) == (0, None, 0)


class RecordingClient:
    """A real client that remembers each statement and its parameters."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def execute(self, query: str, params: dict[str, Any] | None = None) -> Any:
        self.calls.append((query, params or {}))
        return self._client.execute(query, params)


@pytest.mark.parametrize("value", [v for v in HOSTILE if v])
def test_hostile_values_never_reach_sql_text(
    migrated: Settings, known: list[Known], value: str
) -> None:
    """Refused by the model; and if the model were bypassed, bound as data, never run."""
    with pytest.raises(FilterError):
        from_controls(
            channels=[value], prefectures=[value], brands=[value], preset="custom",
            start_text=value, end_text=value, now=datetime.now(UTC),
        )  # fmt: skip

    unchecked: Any = (value,)  # what the vocabulary types would refuse
    bypassed = VolumeFilter.model_construct(
        channels=(*unchecked, "ivr"), prefectures=unchecked, brands=unchecked, start=START, end=END
    )
    legit = VolumeFilter(start=START, end=END, channels=("ivr",))
    with db.client(migrated) as raw:
        client = RecordingClient(raw)
        assert queries.breakdown(client, bypassed).total == 0  # type: ignore[arg-type]
        assert queries.series(client, bypassed).counts[value] == [0] * 289  # type: ignore[arg-type]
        ivr = queries.breakdown(raw, legit).total

    for sql, params in client.calls:
        assert value not in sql
        assert value in params["channels"]
    assert tables(migrated) >= {"events", "events_per_minute", "dead_letters"}
    assert ivr == len(selected(known, legit))
