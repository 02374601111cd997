"""A service's use week by week around a change, against a real ClickHouse, every number
recomputed in Python from the events inserted."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from channelhub.catalogue.seed import seed_records
from dashboards.queries import service_usage
from dashboards.queries.service_usage import AGENT, WEEK, names_of
from kernel.settings import Settings
from schemas.catalogue import Entry, WebFunction
from sinks.client import connect
from tests.dashboards.deep_dive_data import Event, event, insert, occurred, simulated
from tests.dashboards.test_deep_dive_cross_channel import SELF_SERVICE_TYPES

pytestmark = pytest.mark.integration

SIMULATED_FROM = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
#: The change: mid-traffic and not on a whole minute, as a step's time is.
CHANGED_AT = SIMULATED_FROM + timedelta(hours=3, minutes=17, seconds=42)
ORIGIN = CHANGED_AT.replace(second=0)
WEEKS = 2


def used(msisdn: str, at: datetime, function: str, session: str) -> Event:
    return event("web.function_used", at, msisdn=msisdn, session=session,
                 attributes={"function": function})  # fmt: skip


def handled(msisdn: str, at: datetime, topic: str, session: str) -> Event:
    return event("agent.request_handled", at, msisdn=msisdn, session=session,
                 attributes={"agent_id": "A0001", "topic": topic, "resolved": True,
                             "handle_s": 100.0, "self_serviceable": True})  # fmt: skip


def edges(function: str, topic: str) -> list[Event]:
    """Uses at the edges of the weeks read: the first and last second of each side, and the
    seconds just outside them."""
    first, last = ORIGIN - WEEKS * WEEK, ORIGIN + WEEKS * WEEK
    second = timedelta(seconds=1)
    moments = [first - second, first, ORIGIN - second, ORIGIN, last - second, last,
               ORIGIN + WEEK - second, ORIGIN + WEEK]  # fmt: skip
    return [
        made
        for i, at in enumerate(moments)
        for made in (
            used("13800000011", at, function, f"web-edge-{i}"),
            handled("13800000012", at, topic, f"ivr-edge-{i}"),
        )
    ]


def expected(
    events: list[Event], names: dict[str, frozenset[str]]
) -> list[tuple[tuple[int, str], int]]:
    """Per week and channel, the events the rollup counts under ``names``."""
    counted: Counter[tuple[int, str]] = Counter()
    first = ORIGIN - WEEKS * WEEK
    for e in events:
        a = e["attributes"]
        if e["event_type"] not in SELF_SERVICE_TYPES or not a.get("success", True):
            continue
        name = a.get("item") or a.get("service") or a.get("function") or a.get("topic")
        week = (occurred(e).replace(second=0, microsecond=0) - first) // WEEK
        if name in names.get(e["channel"], ()) and 0 <= week < 2 * WEEKS:
            counted[week - WEEKS, e["channel"]] += 1
    return sorted(counted.items())


def found(weeks: list[service_usage.Week]) -> list[tuple[tuple[int, str], int]]:
    return sorted(
        ((w.week, channel), n)
        for w in weeks
        for channel, n in [*w.by_channel.items(), (AGENT, w.agent_contacts)]
        if n
    )


def test_use_per_channel_and_agent_contacts_week_by_week(migrated: Settings) -> None:
    entries: dict[str, list[Entry]] = {}
    for record in seed_records(SIMULATED_FROM):
        entries.setdefault(record.service, []).append(record.entry)
    traffic = simulated(30_000, seed=17, start=SIMULATED_FROM)
    done = Counter(
        e["attributes"].get("topic") or e["attributes"].get("item") or ""
        for e in traffic
        if e["event_type"] in ("agent.request_handled", "ivr.self_service_completed")
    )
    busiest = [s for s, _ in done.most_common() if s in entries][:4]
    assert len(busiest) == 4
    web, function = next(
        (s, e.function) for s in busiest for e in entries[s] if isinstance(e, WebFunction)
    )
    known = [*traffic, *edges(function, web)]
    insert(migrated, known)
    client = connect(migrated)
    try:
        checked = 0
        for service in busiest:
            names = names_of(service, entries[service])
            weeks = service_usage.around(client, CHANGED_AT, names, weeks=WEEKS)
            assert [w.week for w in weeks] == list(range(-WEEKS, WEEKS))
            assert [w.start for w in weeks] == [ORIGIN + k * WEEK for k in range(-WEEKS, WEEKS)]
            assert all(set(w.by_channel) == set(names) - {AGENT} for w in weeks)
            want = expected(known, names)
            assert found(weeks) == want, service
            checked += len(want)
        assert checked >= 8
        edge = service_usage.around(client, CHANGED_AT, names_of(web, entries[web]), WEEKS)
        assert edge[0].by_channel["web"] >= 1
        assert edge[-1].agent_contacts >= 1
        nothing = service_usage.around(client, CHANGED_AT, {}, weeks=1)
        assert [(w.week, w.by_channel, w.agent_contacts) for w in nothing] == [
            (-1, {}, 0),
            (0, {}, 0),
        ]
    finally:
        client.disconnect()


def test_names_per_channel_of_a_seeded_service() -> None:
    service = "query.realtime_charges"
    entries = [r.entry for r in seed_records(SIMULATED_FROM) if r.service == service]
    names = names_of(service, entries)
    assert names[AGENT] == {service}
    assert names["sms"] == {service}
    assert names.keys() >= {"sms", "web"}
