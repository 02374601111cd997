"""The web/WAP and kiosk queries against a real ClickHouse, every number recomputed in Python."""

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from dashboards import db
from dashboards.queries import kiosks, online
from kernel.settings import Settings
from schemas.envelope import PREFECTURES
from tests.dashboards.deep_dive_data import (
    Event,
    event,
    insert,
    insert_with_duplicates,
    occurred,
    simulated,
)
from tests.dashboards.test_deep_dive_ivr import ms

pytestmark = pytest.mark.integration

SIMULATED_FROM = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
START = SIMULATED_FROM + timedelta(minutes=30)
END = START + timedelta(hours=4)
AS_OF = START + timedelta(hours=50)
MILLISECOND = timedelta(milliseconds=1)


def reservation(
    msisdn: str, at: datetime, rid: str, activated_after: timedelta | None
) -> list[Event]:
    attributes = {"number": "13912345678", "reservation_id": rid}
    made = [
        event("web.number_reserved", at, msisdn=msisdn, session=f"web-{rid}", attributes=attributes)
    ]
    if activated_after is not None:
        made.append(
            event(
                "web.number_activated",
                at + activated_after,
                msisdn=msisdn,
                session=f"web-{rid}",
                attributes=attributes,
            )
        )
    return made  # fmt: skip


def kiosk(event_type: str, at: datetime, terminal: str, **attributes: object) -> Event:
    fault = event_type == "kiosk.terminal_fault"
    return event(event_type, at, msisdn=None if fault else "13800000009",
                 session=f"k-{terminal}", attributes={"terminal_id": terminal, **attributes},
                 prefecture="xiangxi")  # fmt: skip


def edge_cases() -> list[Event]:
    at = START + timedelta(hours=1)
    return [
        *reservation("13800000001", at, "R-EDGE-1", online.ACTIVATION_WINDOW),  # in time
        *reservation("13800000002", at, "R-EDGE-2", online.ACTIVATION_WINDOW + MILLISECOND),
        *reservation("13800000003", END - timedelta(minutes=1), "R-EDGE-3", None),  # waiting
        *reservation("13800000004", START - timedelta(seconds=1), "R-EDGE-4", timedelta(hours=1)),
        kiosk("kiosk.session_started", START - timedelta(days=3), "K99999"),  # silent
        kiosk("kiosk.terminal_fault", at, "K99998", fault_code="printer.jam", severity="error"),
        kiosk("kiosk.terminal_fault", at + timedelta(minutes=5), "K99998",
              fault_code="screen.unresponsive", severity="critical"),
        kiosk("kiosk.session_started", END - timedelta(days=8), "K99997"),  # forgotten
    ]  # fmt: skip


def produced() -> list[Event]:
    return [*simulated(30_000, seed=14, start=SIMULATED_FROM), *edge_cases()]


@pytest.fixture
def known(migrated: Settings) -> list[Event]:
    events = produced()
    for part in (events[:15_000], events[15_000:]):
        insert(migrated, part)
    return events


@pytest.fixture
def duplicated(migrated: Settings) -> list[Event]:
    """The same events, every fifth stored twice and not merged away."""
    events = produced()
    insert_with_duplicates(migrated, events)
    return events


def test_functions_used_in_each_hall(migrated: Settings, known: list[Event]) -> None:
    uses: Counter[tuple[str, str]] = Counter()
    users: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for e in known:
        if (
            e["event_type"] in ("web.function_used", "wap.function_used")
            and START <= occurred(e) < END
        ):
            key = (e["channel"], e["attributes"]["function"])
            uses[key] += 1
            users[key].add(e["msisdn"])

    with db.client(migrated) as client:
        result = online.functions(client, START, END)

    assert {(f.hall, f.function): (f.uses, f.users) for f in result} == {
        key: (n, len(users[key])) for key, n in uses.items()
    }
    assert {f.hall for f in result} == set(online.HALLS)
    assert [f.uses for f in result] == sorted((f.uses for f in result), reverse=True)


@pytest.mark.parametrize("stored", ["known", "duplicated"])
def test_reservations_activated_within_48_hours(
    migrated: Settings, stored: str, request: pytest.FixtureRequest
) -> None:
    known: list[Event] = request.getfixturevalue(stored)
    window = online.ACTIVATION_WINDOW // timedelta(milliseconds=1)
    as_of_ms = ms(event("web.login", AS_OF, msisdn=None, session="-", attributes={}))
    reserved: dict[str, int] = {}
    activated: dict[str, int] = {}
    for e in sorted(known, key=ms):
        rid = e["attributes"].get("reservation_id")
        if e["event_type"] == "web.number_reserved" and START <= occurred(e) < END:
            reserved.setdefault(rid, ms(e))
        if (
            e["event_type"] == "web.number_activated"
            and START <= occurred(e) < END + online.ACTIVATION_WINDOW
        ):
            activated.setdefault(rid, ms(e))
    in_time = [r for r, t in reserved.items() if r in activated and activated[r] <= t + window]
    waiting = [r for r, t in reserved.items() if r not in activated and t + window > as_of_ms]

    with db.client(migrated) as client:
        result = online.reservations(client, START, END, AS_OF)

    assert (result.reserved, result.in_time, result.waiting) == (
        len(reserved),
        len(in_time),
        len(waiting),
    )
    assert result.lapsed == len(reserved) - len(in_time) - len(waiting) > 0
    assert "R-EDGE-1" in in_time
    assert "R-EDGE-2" not in in_time
    assert "R-EDGE-3" in waiting
    assert "R-EDGE-4" not in reserved


def test_terminals_sessions_payments_faults_and_silence(
    migrated: Settings, known: list[Event]
) -> None:
    known_from = END - kiosks.LOOKBACK
    expected: dict[str, Counter[str]] = {}
    prefecture: dict[str, str] = {}
    last_fault: dict[str, str] = {}
    last_event: dict[str, datetime] = {}
    for e in sorted((e for e in known if e["channel"] == "kiosk"), key=ms):
        if not known_from <= occurred(e) < END:
            continue
        terminal = e["attributes"]["terminal_id"]
        counts = expected.setdefault(terminal, Counter())
        prefecture[terminal] = e["prefecture"]
        last_event[terminal] = occurred(e).replace(microsecond=0)
        if occurred(e) < START:
            continue
        if e["event_type"] == "kiosk.session_started":
            counts["sessions"] += 1
        elif e["event_type"] == "kiosk.payment_completed":
            counts["payments"] += 1
            counts["paid_fen"] += e["attributes"]["amount_fen"]
        elif e["event_type"] == "kiosk.terminal_fault":
            counts["faults"] += 1
            last_fault[terminal] = e["attributes"]["fault_code"]

    with db.client(migrated) as client:
        result = kiosks.terminals(client, START, END)

    got = {
        t.terminal: Counter(
            sessions=t.sessions, payments=t.payments, paid_fen=t.paid_fen, faults=t.faults
        )
        for t in result
    }
    assert got == expected
    assert {t.terminal: t.prefecture for t in result} == prefecture
    assert {t.terminal: t.last_fault for t in result if t.faults} == last_fault
    assert {t.terminal: t.last_event for t in result} == last_event
    by_id = {t.terminal: t for t in result}
    assert by_id["K99999"].silent
    assert by_id["K99998"].silent
    assert by_id["K99998"].last_fault == "screen.unresponsive"
    assert "K99997" not in by_id
    assert sum(not t.silent for t in result) > 100

    per_prefecture: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for terminal, counts in expected.items():
        row = per_prefecture[prefecture[terminal]]
        row.update(counts)
        row["terminals"] += 1
        row["active"] += counts["sessions"] > 0
    split = kiosks.by_prefecture(result)
    assert {
        p: Counter(terminals=r.terminals, active=r.active, sessions=r.sessions,
                   payments=r.payments, paid_fen=r.paid_fen, faults=r.faults)
        for p, r in split.items()
    } == {p: per_prefecture[p] for p in split}  # fmt: skip
    assert set(per_prefecture) <= set(split) == set(PREFECTURES)
