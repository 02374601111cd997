"""The queue queries against a real ClickHouse, every number recomputed in plain Python.

The expected values come from the raw events inserted (:class:`RawEvent`), following the
definitions in :mod:`dashboards.queries.queue`, written independently of its SQL.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from dashboards import db
from dashboards.queries import queue
from dashboards.queries.queue import QueueStats, Rules
from kernel.settings import Settings
from schemas.envelope import PREFECTURES
from tests.dashboards.queue_data import Call, RawEvent, insert_calls, random_calls

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 10, 4, 7, 33, tzinfo=UTC)
ANSWERED, ABANDONED = "ivr.agent_answered", "ivr.abandoned"
LEFT_QUEUE = {"ivr.agent_answered", "ivr.abandoned", "ivr.call_ended"}


def second(e: RawEvent) -> int:
    return int(e.occurred_at.timestamp())


def inside(e: RawEvent, start: datetime, end: datetime) -> bool:
    return int(start.timestamp()) <= second(e) < int(end.timestamp())


def expected_stats(
    raw: list[RawEvent], start: datetime, end: datetime, rules: Rules
) -> dict[str, float | None]:
    """The numbers of one window, straight from the definitions."""
    answered = [
        e.attributes["wait_s"] for e in raw if e.event_type == ANSWERED and inside(e, start, end)
    ]
    abandoned = [
        e.attributes["wait_s"] for e in raw if e.event_type == ABANDONED and inside(e, start, end)
    ]
    counted = [w for w in abandoned if w >= rules.grace_s]
    judged = len(answered) + len(counted)
    waits = sorted(answered + abandoned)
    return {
        "answered": len(answered),
        "abandoned": len(counted),
        "short_abandoned": len(abandoned) - len(counted),
        "service_level": sum(w <= rules.threshold_s for w in answered) / judged if judged else None,
        "abandonment_rate": len(counted) / judged if judged else None,
        "asa_s": sum(answered) / len(answered) if answered else None,
        **{f"p{round(level * 100)}": exact_quantile(waits, level) for level in queue.LEVELS},
    }


def exact_quantile(ordered: list[float], level: float) -> float | None:
    """The element at ``floor(level * n)``: ClickHouse's ``quantileExact``, no interpolation."""
    return ordered[min(int(level * len(ordered)), len(ordered) - 1)] if ordered else None


def shown(s: QueueStats) -> dict[str, float | None]:
    percentiles = s.wait_percentiles or (None, None, None)
    return {
        "answered": s.answered,
        "abandoned": s.abandoned,
        "short_abandoned": s.short_abandoned,
        "service_level": s.service_level,
        "abandonment_rate": s.abandonment_rate,
        "asa_s": s.asa_s,
        "p50": percentiles[0],
        "p90": percentiles[1],
        "p99": percentiles[2],
    }


def expected_waiting(raw: list[RawEvent], now: datetime) -> dict[str, int]:
    hour = [e for e in raw if inside(e, now - timedelta(hours=1), now)]
    entered = {e.session_id: e.prefecture for e in hour if e.event_type == "ivr.queue_entered"}
    left = {e.session_id for e in hour if e.event_type in LEFT_QUEUE}
    counts = dict.fromkeys(PREFECTURES, 0)
    for session, prefecture in entered.items():
        if session not in left:
            counts[prefecture] += 1
    return counts


def expected_occupancy(raw: list[RawEvent], start: datetime, now: datetime) -> tuple[int, int]:
    """(agents with talk time in the window, talk seconds in the window)."""
    lookback, s, n = start - timedelta(hours=2), int(start.timestamp()), int(now.timestamp())
    ended: dict[str, int] = {}
    for e in raw:
        if e.event_type == "ivr.call_ended" and inside(e, lookback, now):
            ended[e.session_id] = min(ended.get(e.session_id, n), second(e))
    calls: defaultdict[str, list[tuple[int, str]]] = defaultdict(list)
    for e in raw:
        if e.event_type == ANSWERED and inside(e, lookback, now):
            calls[e.attributes["agent_id"]].append((second(e), e.session_id))
    talk: defaultdict[str, int] = defaultdict(int)
    for agent, answered in calls.items():
        answered.sort()
        # one call at a time: a call ends when it ended, or when its agent answers the next
        nexts = [at for at, _ in answered[1:]] + [n]
        for (at, session), following in zip(answered, nexts, strict=True):
            end = min(ended.get(session, n), following, n)
            talk[agent] += max(0, end - max(at, s))
    return sum(1 for t in talk.values() if t > 0), sum(talk.values())


def assert_same(actual: dict[str, float | None], expected: dict[str, float | None]) -> None:
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        if value is None:
            assert actual[name] is None, name
        else:
            assert actual[name] == pytest.approx(value, rel=1e-9), name


@pytest.fixture
def raw(migrated: Settings) -> list[RawEvent]:
    """Three hours of random calls in two inserts, plus calls on the window's edges."""
    calls = random_calls(2500, NOW - timedelta(hours=3), NOW, seed=11)
    edges = [
        # answered exactly at now: not yet; exactly at the 15-minute window's start: inside
        Call("changsha", NOW - timedelta(seconds=40), "answered", wait_s=40.0, talk_s=5),
        Call("changsha", NOW - timedelta(minutes=15, seconds=20), "answered", wait_s=20.0,
             talk_s=9),
        Call("loudi", NOW - timedelta(minutes=61), "waiting"),  # entered more than an hour ago
        Call("loudi", NOW - timedelta(minutes=5), "abandoned", wait_s=4.999),  # short abandon
        Call("xiangxi", NOW - timedelta(minutes=5), "abandoned", wait_s=5.0),  # counted
        Call("xiangxi", NOW - timedelta(hours=2, minutes=50), "answered", wait_s=1.0, talk_s=None),
    ]  # fmt: skip
    return [
        *insert_calls(migrated, calls[:1200]),
        *insert_calls(migrated, calls[1200:]),
        *insert_calls(migrated, edges),
    ]


@pytest.mark.parametrize(
    ("window", "rules"),
    [
        (timedelta(minutes=15), Rules()),
        (timedelta(minutes=60), Rules(threshold_s=10, grace_s=0)),
        (timedelta(minutes=5), Rules(threshold_s=30, grace_s=8)),
    ],
    ids=["15min-80/20", "1h-10s-no-grace", "5min-30s"],
)
def test_snapshot_equals_python(
    migrated: Settings, raw: list[RawEvent], window: timedelta, rules: Rules
) -> None:
    with db.client(migrated) as client:
        snap = queue.snapshot(client, NOW, window, rules)
    start = NOW - window

    assert snap.waiting == expected_waiting(raw, NOW)
    assert snap.waiting_total > 0
    assert_same(shown(snap.overall), expected_stats(raw, start, NOW, rules))
    assert snap.overall.answered > 0
    for prefecture in PREFECTURES:
        mine = [e for e in raw if e.prefecture == prefecture]
        assert_same(shown(snap.by_prefecture[prefecture]), expected_stats(mine, start, NOW, rules))
    agents, talk = expected_occupancy(raw, start, NOW)
    assert (snap.occupancy.agents, snap.occupancy.talk_s) == (agents, talk)
    assert snap.occupancy.window_s == window.total_seconds()
    assert snap.occupancy.ratio == pytest.approx(talk / (agents * window.total_seconds()))


def test_series_equals_python_per_five_minutes(migrated: Settings, raw: list[RawEvent]) -> None:
    rules = Rules()
    with db.client(migrated) as client:
        result = queue.series(client, NOW, 3, rules)

    first = datetime(2026, 3, 10, 1, 5, tzinfo=UTC)  # 09:05 Shanghai: 3 h before, floored
    assert result.buckets[0] == first
    assert result.buckets[-1] == datetime(2026, 3, 10, 4, 5, tzinfo=UTC)  # still filling
    assert len(result.buckets) == len(result.stats) == 37
    for bucket, stats in zip(result.buckets, result.stats, strict=True):
        end = min(bucket + timedelta(minutes=5), NOW)
        assert_same(shown(stats), expected_stats(raw, bucket, end, rules))
    assert (
        sum(s.answered for s in result.stats) == expected_stats(raw, first, NOW, rules)["answered"]
    )


def test_a_call_that_never_ended_stops_counting_when_its_agent_answers_the_next(
    migrated: Settings,
) -> None:
    """A lost ``call_ended`` must not keep the agent talking until now (over 100%)."""
    insert_calls(migrated, [
        Call("changsha", NOW - timedelta(minutes=30), "answered", agent="A0999", talk_s=None),
        Call("changsha", NOW - timedelta(minutes=10), "answered", agent="A0999", talk_s=60),
    ])  # fmt: skip
    with db.client(migrated) as client:
        found = queue.occupancy(client, NOW - timedelta(minutes=15), NOW)
    # the first call from the window's start to the next answer (5 min), then the next (60 s)
    assert (found.agents, found.talk_s) == (1, 5 * 60 + 60)
    assert found.ratio == pytest.approx(360 / 900)


def test_an_empty_queue_has_no_rates(migrated: Settings) -> None:
    with db.client(migrated) as client:
        snap = queue.snapshot(client, NOW, timedelta(minutes=15), Rules())
        series = queue.series(client, NOW, 1, Rules())
    assert snap.waiting_total == 0
    assert snap.overall == QueueStats()
    assert (snap.overall.service_level, snap.overall.asa_s, snap.occupancy.ratio) == (None,) * 3
    assert all(s == QueueStats() for s in series.stats)


def test_newest_call_says_when_the_queue_last_saw_a_caller(migrated: Settings) -> None:
    with db.client(migrated) as client:
        assert queue.newest_call(client, NOW) is None
    joined = NOW - timedelta(minutes=42, seconds=7)
    insert_calls(migrated, [Call("hengyang", joined, "abandoned", wait_s=3.0)])
    insert_calls(migrated, [Call("hengyang", NOW, "waiting")])  # at now: not yet
    with db.client(migrated) as client:
        assert queue.newest_call(client, NOW) == joined
