"""The cross-channel queries against a real ClickHouse, every number recomputed in Python."""

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from dashboards import db, service_names
from dashboards.filters import VolumeFilter
from dashboards.queries import cross_channel
from kernel.settings import Settings
from orchestration.rules.guidance import WAYS
from schemas.envelope import CHANNELS
from sinks import migrations
from sinks.client import connect
from sinks.tables import contacts
from tests.dashboards.deep_dive_data import (
    Event,
    event,
    insert,
    insert_contacts,
    insert_with_duplicates,
    occurred,
    simulated,
)
from tests.dashboards.test_deep_dive_ivr import EPOCH, ms
from tests.dashboards.test_queries import shanghai_bucket

pytestmark = pytest.mark.integration

SIMULATED_FROM = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
START = SIMULATED_FROM + timedelta(minutes=30)
END = START + timedelta(hours=4)
SELF_SERVICE_TYPES = {
    "ivr.self_service_completed", "sms.service_completed", "web.function_used",
    "wap.function_used", "kiosk.service_completed", "agent.request_handled",
}  # fmt: skip


def login(msisdn: str, at: datetime, session: str) -> Event:
    return event("web.login", at, msisdn=msisdn, session=session,
                 attributes={"method": "password", "success": True})  # fmt: skip


def handled(msisdn: str, at: datetime, session: str, topic: str) -> Event:
    return event("agent.request_handled", at, msisdn=msisdn, session=session,
                 attributes={"agent_id": "A0001", "topic": topic, "resolved": True,
                             "handle_s": 100.0, "self_serviceable": False})  # fmt: skip


def edge_cases() -> list[Event]:
    at = START + timedelta(hours=1)
    return [
        # another contact exactly 24 h later: re-contacted
        login("13800000001", at, "web-edge-1"),
        login("13800000001", at + cross_channel.RECONTACT_WINDOW, "web-edge-2"),
        # a millisecond later: resolved at first contact
        login("13800000002", at, "web-edge-3"),
        login("13800000002", at + timedelta(days=1, milliseconds=1), "web-edge-4"),
        # an agent inside the caller's own call is not a re-contact
        event("ivr.call_started", at, msisdn="13800000003", session="ivr-edge-5",
              attributes={"lead_in_variant": "changsha.gotone.idle", "busy_period": False}),
        handled("13800000003", at + timedelta(minutes=3), "ivr-edge-5", "sp.complaint"),
        # a topic with no self-service way, done nowhere else: not a self-service function
        handled("13800000004", at, "ivr-edge-6", "enterprise.complaint"),
        # a web function no item names: not counted
        event("web.function_used", at, msisdn="13800000005", session="web-edge-7",
              attributes={"function": "profile.update"}),
    ]  # fmt: skip


def produced() -> list[Event]:
    return [*simulated(30_000, seed=13, start=SIMULATED_FROM), *edge_cases()]


@pytest.fixture
def known(migrated: Settings) -> list[Event]:
    """With duplicates that slipped past the sink, and the contacts the nudge stage counts of
    the events: the session counts must not change."""
    events = produced()
    insert_with_duplicates(migrated, events)
    insert_contacts(migrated, events)
    return events


@pytest.fixture
def known_once(migrated: Settings) -> list[Event]:
    """As the sink inserts them, each once: the deflection counts the inserted events of
    ``self_service_per_minute``, exact because the sink keeps duplicates out of ``events``."""
    events = produced()
    insert(migrated, events)
    insert_contacts(migrated, events)
    return events


def in_range(known: list[Event]) -> list[Event]:
    return [e for e in known if START <= occurred(e) < END]


def test_channel_mix_counts_contacts_by_their_first_event(
    migrated: Settings, known: list[Event]
) -> None:
    f = VolumeFilter(start=START, end=END)
    first: dict[tuple[str, str], datetime] = {}
    for e in known:
        if e["msisdn"]:
            key = (e["channel"], e["session_id"])
            first[key] = min(first.get(key, occurred(e)), occurred(e))
    first = {key: t for key, t in first.items() if START <= t < END}
    expected = Counter((shanghai_bucket(t, 3600), c) for (c, _), t in first.items())

    with db.client(migrated) as client:
        result = cross_channel.mix(client, f)

    assert result.bucket_seconds == 3600  # a 4-hour range, never finer than an hour
    assert result.buckets[0] == shanghai_bucket(START, 3600) < START
    assert len(result.buckets) == 5
    assert set(result.contacts) == set(CHANNELS)
    for channel, values in result.contacts.items():
        assert values == [expected[(b, channel)] for b in result.buckets]
    assert sum(map(sum, result.contacts.values())) == len(first)
    assert all(sum(result.contacts[c]) > 0 for c in CHANNELS)


def test_deflection_splits_each_function_over_channels_and_agents(
    migrated: Settings, known_once: list[Event]
) -> None:
    first_item: dict[tuple[str, str], str] = {}
    for listed, way in WAYS.items():
        for hall, function in (("web", way.web_function), ("wap", way.wap_function)):
            if function:
                first_item.setdefault((hall, function), listed)
    done: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for e in in_range(known_once):
        if e["event_type"] not in SELF_SERVICE_TYPES:
            continue
        a, channel = e["attributes"], e["channel"]
        if not a.get("success", True):
            continue
        name = a.get("item") or a.get("service") or a.get("function") or a.get("topic")
        item: str | None
        if channel in ("web", "wap"):
            item = first_item.get((channel, name))
        elif channel == "kiosk" and name not in WAYS:
            item = first_item.get(("web", name))
        else:
            item = name if name in WAYS else None
        if item:
            done[item][channel] += 1
    expected = {
        item: dict(counts)
        for item, counts in done.items()
        if WAYS[item].exists or set(counts) - {"agent"}
    }

    with db.client(migrated) as client:
        result = cross_channel.deflection(client, START, END)

    assert result == expected
    assert "enterprise.complaint" not in result
    bill = result["query.monthly_bill"]
    assert {"ivr", "sms", "web", "wap", "agent"} <= set(bill)


def test_recontact_within_24_hours_by_first_channel(migrated: Settings, known: list[Event]) -> None:
    window = cross_channel.RECONTACT_WINDOW // timedelta(milliseconds=1)
    sessions: dict[str, tuple[str, str, int]] = {}  # session → subscriber, channel, first ms
    for e in sorted((e for e in known if e["msisdn"]), key=ms):
        sessions.setdefault(e["session_id"], (e["msisdn"], e["channel"], ms(e)))
    others: defaultdict[str, dict[str, int]] = defaultdict(dict)  # subscriber → session → ms
    for session, (subscriber, _, first) in sessions.items():
        others[subscriber][session] = first
    start_ms, end_ms = ((t - EPOCH) // timedelta(milliseconds=1) for t in (START, END))
    expected: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for session, (subscriber, channel, first) in sessions.items():
        if not start_ms <= first < end_ms:
            continue
        expected[channel]["contacts"] += 1
        expected[channel]["recontacted"] += any(
            other != session and first < at <= first + window
            for other, at in others[subscriber].items()
        )

    with db.client(migrated) as client:
        result = cross_channel.recontacts(client, START, END)

    got = {c: Counter(contacts=r.contacts, recontacted=r.recontacted) for c, r in result.items()}
    assert got == {c: expected[c] for c in got}
    assert set(expected) <= set(got)
    web = result["web"]
    assert 0 < web.recontacted < web.contacts
    assert web.resolved_share == pytest.approx(1 - web.recontacted / web.contacts)


def test_last_seen_and_an_empty_range(migrated: Settings, known: list[Event]) -> None:
    newest_kiosk = max(occurred(e) for e in known if e["channel"] == "kiosk")
    early = datetime(2020, 1, 1, tzinfo=UTC)
    with db.client(migrated) as client:
        assert cross_channel.last_seen(client, "kiosk") == newest_kiosk.replace(
            second=0, microsecond=0
        )
        assert cross_channel.last_seen(client, "web", "wap") == max(
            occurred(e) for e in known if e["channel"] in ("web", "wap")
        ).replace(second=0, microsecond=0)
        assert cross_channel.deflection(client, early, early + timedelta(hours=1)) == {}
        nothing = cross_channel.recontacts(client, early, early + timedelta(hours=1))
    assert all(r.contacts == 0 and r.resolved_share is None for r in nothing.values())


@pytest.mark.parametrize(
    ("channel", "name", "item"),
    [
        ("web", "bill.monthly", "query.monthly_bill"),
        ("wap", "bill.history", "query.payment_records"),
        ("web", "sp.query_unsubscribe", "sp.query_unsubscribe"),
        ("kiosk", "query.call_details", "query.call_details"),
        ("kiosk", "package.change", "handling.package_conversion"),
        ("sms", "handling.ringback_tone", "handling.ringback_tone"),
        ("agent", "unknown", None),
        ("web", "profile.update", None),
        ("kiosk", "bill.print", None),
    ],
)
def test_item_of_names_on_each_channel(channel: str, name: str, item: str | None) -> None:
    assert service_names.STATIC.item_of(channel, name) == item


def test_the_fill_counts_stored_events_as_the_stage_counts_them(migrated: Settings) -> None:
    """An upgrade counts the contacts of the events stored before the stage counted any with
    the migration's fill; on the same events it must find what the stage finds."""
    events = produced()
    insert(migrated, events)
    sums = """
        SELECT minute, channel, sum(opened), sum(sessions), sum(recontacted)
        FROM contacts_per_minute GROUP BY minute, channel ORDER BY minute, channel
    """
    client = connect(migrated)
    try:
        for fill in contacts.CONTACTS_PER_MINUTE.fill_statements:
            for statement in migrations.rendered(None, migrated.clickhouse_database, fill):
                client.execute(statement)
        filled = client.execute(sums)
        for table in ("contacts", "contacts_per_minute"):
            client.execute(f"TRUNCATE TABLE {table}")
        rows = insert_contacts(migrated, events)
        streamed = client.execute(sums)
    finally:
        client.disconnect()
    assert filled == streamed
    assert rows == sum(o + r for _, _, o, _, r in streamed) > 1000
