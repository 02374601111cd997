"""The SMS hall deep-dive queries against a real ClickHouse, every number recomputed in Python.

The simulator's texts include CJK, emoji, astral characters, newlines and SQL-looking text;
hand-made messages add phone numbers to mask and confirmations at the edges of the range. The
confirmations are read from the dialogues the nudge stage summarises of the same events.
"""

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from dashboards import db
from dashboards.queries import sms_hall
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from tests.dashboards.deep_dive_data import (
    Event,
    event,
    insert,
    insert_dialogues,
    occurred,
    simulated,
)

pytestmark = pytest.mark.integration

SIMULATED_FROM = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
START = SIMULATED_FROM + timedelta(minutes=30)
END = START + timedelta(hours=4)


def text(msisdn: str, at: datetime, body: str, session: str) -> Event:
    return event(
        "sms.message_received", at, msisdn=msisdn, session=session,
        attributes={"text": body, "matched_code": None, "match_kind": "unknown"},
    )  # fmt: skip


def confirmation(msisdn: str, at: datetime, session: str, reply: str) -> list[Event]:
    common = {"msisdn": msisdn, "session": session}
    asked = event(
        "sms.confirmation_requested",
        at,
        attributes={"code": "0204", "service": "handling.ringback_tone", "charge_fen": 500},
        **common,
    )
    answered = event(
        "sms.confirmation_replied",
        at + timedelta(minutes=10),
        attributes={"code": "0204", "reply": reply},
        **common,
    )
    return [asked, answered]  # fmt: skip


def edge_cases() -> list[Event]:
    at = START + timedelta(minutes=1)
    return [
        text("13800000001", at, "please call 13912345678 back", "sms-edge-1"),
        text("13800000002", at, "please call 13787654321 back", "sms-edge-2"),
        text("13800000002", at, "please call 13787654321 back", "sms-edge-3"),
        text("13800000003", at, "account 123456 is short: kept", "sms-edge-4"),
        text("13800000003", END, "at the end: out", "sms-edge-5"),
        text("13800000003", START - timedelta(seconds=1), "before: out", "sms-edge-6"),
        # prompted just before the end, timed out after it: counted
        *confirmation("13800000004", END - timedelta(minutes=1), "sms-edge-7", "timeout"),
        # prompted before the range, answered inside it: not counted
        *confirmation("13800000005", START - timedelta(minutes=2), "sms-edge-8", "yes"),
    ]


@pytest.fixture
def known(migrated: Settings) -> list[Event]:
    produced = [*simulated(30_000, seed=12, start=SIMULATED_FROM), *edge_cases()]
    for part in (produced[:15_000], produced[15_000:]):
        insert(migrated, part)
    assert insert_dialogues(migrated, produced) > 0  # what the nudge stage summarises of them
    return produced


def received(known: list[Event]) -> list[Event]:
    return [
        e for e in known if e["event_type"] == "sms.message_received" and START <= occurred(e) < END
    ]


def test_messages_by_match_kind_and_command(migrated: Settings, known: list[Event]) -> None:
    texts = received(known)
    kinds = Counter(e["attributes"]["match_kind"] for e in texts)
    codes = Counter(
        e["attributes"]["matched_code"] for e in texts if e["attributes"]["matched_code"]
    )

    with db.client(migrated) as client:
        result = sms_hall.messages(client, START, END)

    assert result.by_kind == {kind: kinds[kind] for kind in sms_hall.MATCH_KINDS}
    assert result.by_code == codes
    assert result.total == len(texts)
    assert all(n > 0 for n in result.by_kind.values())
    assert result.top_codes(3) == sorted(codes.items(), key=lambda c: (-c[1], c[0]))[:3]


@pytest.mark.parametrize("limit", [5, 100])
def test_unknown_texts_are_masked_grouped_and_counted(
    migrated: Settings, known: list[Event], limit: int
) -> None:
    groups: defaultdict[str, list[str]] = defaultdict(list)
    for e in received(known):
        if e["attributes"]["match_kind"] == "unknown":
            stored = Pseudonymizer(b"any key").scrub(e["attributes"]["text"])  # as the sink does
            masked = re.sub(r"msisdn:k[0-9]+\.[0-9a-f]{32}|[0-9]{7,}", sms_hall.MASK, stored)
            groups[masked].append(e["msisdn"])
    expected = sorted(
        ((t, len(senders), len(set(senders))) for t, senders in groups.items()),
        key=lambda g: (-g[1], g[0]),
    )[:limit]

    with db.client(migrated) as client:
        result = sms_hall.unknown_texts(client, START, END, limit)

    assert [(u.text, u.messages, u.senders) for u in result] == expected
    if limit == 100:
        shown = {u.text: u for u in result}
        assert (
            shown["please call [number] back"].messages,
            shown["please call [number] back"].senders,
        ) == (3, 2)
        assert "account 123456 is short: kept" in shown
        assert "'; DROP TABLE channelhub.events; --" in shown
        assert not any(re.search(r"1[3-9][0-9]{9}", t) for t in shown)


def test_confirmation_funnel_per_command(migrated: Settings, known: list[Event]) -> None:
    kinds = {"sms.confirmation_requested", "sms.confirmation_replied", "sms.service_completed"}
    sessions: defaultdict[str, list[Event]] = defaultdict(list)
    for e in known:
        if e["event_type"] in kinds and START <= occurred(e) < END + sms_hall.FOLLOW:
            sessions[e["session_id"]].append(e)
    expected: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for evs in sessions.values():
        asked = [
            e for e in evs if e["event_type"] == "sms.confirmation_requested" and occurred(e) < END
        ]
        if not asked:
            continue
        counts = expected[asked[0]["attributes"]["code"]]
        counts["prompted"] += 1
        for e in evs:
            if e["event_type"] == "sms.confirmation_replied":
                counts[e["attributes"]["reply"]] += 1
        done = [e for e in evs if e["event_type"] == "sms.service_completed"]
        counts["done"] += bool(done)
        counts["succeeded"] += any(e["attributes"]["success"] for e in done)

    with db.client(migrated) as client:
        result = sms_hall.confirmations(client, START, END)

    got = {
        c.code: Counter(
            prompted=c.prompted, yes=c.yes, no=c.no, timeout=c.timed_out, done=c.done,
            succeeded=c.succeeded,
        )
        for c in result
    }  # fmt: skip
    assert got == expected
    assert [c.prompted for c in result] == sorted((c.prompted for c in result), reverse=True)
    ringback = next(c for c in result if c.code == "0204")
    assert ringback.timed_out > 0
    assert 0 < ringback.done <= ringback.yes  # a charged service runs only after a yes
    assert all(c.unanswered >= 0 for c in result)


def test_an_empty_range_has_nothing(migrated: Settings) -> None:
    with db.client(migrated) as client:
        result = sms_hall.messages(client, START, END)
        assert sms_hall.unknown_texts(client, START, END, 10) == []
        assert sms_hall.confirmations(client, START, END) == []
    assert result.by_kind == dict.fromkeys(sms_hall.MATCH_KINDS, 0)
    assert (result.by_code, result.total) == ({}, 0)
