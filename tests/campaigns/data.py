"""Known event rows for audience tests, and the audience computed from them in plain Python.

Rows go into ``events`` and ``opt_outs`` with the sink's own column lists. :func:`expected` is
the reference: it reads the same rows with none of the SQL's machinery, so a preview or a
fan-out must match it exactly.
"""

import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kernel.settings import Settings
from orchestration.campaigns import Audience
from orchestration.campaigns.audience import AGENT_CONTACT
from schemas.envelope import BRANDS, CHANNELS, PREFECTURES
from sinks.client import connect
from sinks.tables import events, opt_outs


@dataclass(frozen=True)
class Row:
    """One event as the audience query sees it; ``subscriber`` is '' for equipment events."""

    subscriber: str
    partition: int
    channel: str
    event_type: str
    at: datetime
    prefecture: str
    brand: str
    event_id: str


@dataclass(frozen=True)
class Known:
    rows: list[Row]
    #: (pseudonym, scope) of every opt-out.
    opt_outs: list[tuple[str, str]]


@dataclass(frozen=True)
class Member:
    partition: int
    prefecture: str
    brand: str


def population(n: int, as_of: datetime, *, seed: int) -> Known:
    """``n`` subscribers with a few months of events around ``as_of``: some after it, some
    exactly on day boundaries, some moving prefecture or brand, duplicated agent events,
    equipment events, and opt-outs for all or for one code."""
    rng = random.Random(seed)
    rows: list[Row] = []
    optouts: list[tuple[str, str]] = []
    for _ in range(n):
        pseudonym = f"k1.{rng.getrandbits(128):032x}"
        partition = rng.randrange(4)
        prefecture, brand = rng.choice(PREFECTURES), rng.choice(BRANDS)
        boundaries = [0, 7, 14, 30, 90]  # each used once: no two events at the same instant
        rng.shuffle(boundaries)
        for _ in range(rng.randint(1, 10)):
            if rng.random() < 0.1:  # moved, or changed brand: the latest event counts
                prefecture, brand = rng.choice(PREFECTURES), rng.choice(BRANDS)
            channel = rng.choice(CHANNELS)
            if boundaries and rng.random() < 0.15:  # exactly N days back, or at as_of
                at = as_of - timedelta(days=boundaries.pop())
            else:
                ms = rng.randrange(-5 * 86_400_000, 120 * 86_400_000)  # a few after as_of
                at = as_of - timedelta(milliseconds=ms)
            event_type = AGENT_CONTACT if channel == "agent" else f"{channel}.test_event"
            row = Row(pseudonym, partition, channel, event_type, at, prefecture, brand,
                      str(uuid.UUID(int=rng.getrandbits(128))))  # fmt: skip
            rows.append(row)
            if channel == "agent" and rng.random() < 0.3:  # a duplicate not merged yet
                rows.append(row)
        if rng.random() < 0.1:
            optouts.append((pseudonym, rng.choice(["*", "0101"])))
    for _ in range(n // 10):
        at = as_of - timedelta(days=rng.uniform(0, 30))
        rows.append(Row("", rng.randrange(4), "kiosk", "kiosk.terminal_fault", at,
                        rng.choice(PREFECTURES), "", str(uuid.uuid4())))  # fmt: skip
    return Known(rows, optouts)


def expected(known: Known, audience: Audience, as_of: datetime) -> dict[str, Member]:
    """The audience's members, straight from the rows."""
    opted_out = {s for s, scope in known.opt_outs if scope == "*"}
    history: dict[str, list[Row]] = {}
    for row in known.rows:
        if row.subscriber and row.subscriber not in opted_out and row.at < as_of:
            history.setdefault(row.subscriber, []).append(row)
    members = {}
    for subscriber, rows in history.items():
        # the newest to the millisecond ClickHouse keeps, and of one millisecond the last id
        latest = max(
            rows,
            key=lambda r: (r.at.replace(microsecond=r.at.microsecond // 1000 * 1000), r.event_id),
        )
        member = Member(latest.partition, latest.prefecture, latest.brand)
        if _selects(audience, member, rows, as_of):
            members[subscriber] = member
    return members


def _selects(audience: Audience, member: Member, rows: Sequence[Row], as_of: datetime) -> bool:
    def within(days: int) -> list[Row]:
        return [r for r in rows if r.at >= as_of - timedelta(days=days)]

    if audience.prefectures and member.prefecture not in audience.prefectures:
        return False
    if audience.brands and member.brand not in audience.brands:
        return False
    for use in audience.used:
        if not any(r.channel in use.channels for r in within(use.within_days)):
            return False
    for use in audience.not_used:
        if any(r.channel in use.channels for r in within(use.within_days)):
            return False
    contacts = audience.agent_contacts
    if contacts is not None:
        n = len({r.event_id for r in within(contacts.within_days) if r.event_type == AGENT_CONTACT})
        if contacts.min is not None and n < contacts.min:
            return False
        if contacts.max is not None and n > contacts.max:
            return False
    return True


def insert(settings: Settings, known: Known) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    client = connect(settings)
    try:
        db = settings.clickhouse_database
        client.execute(events.TABLE.insert.format(db=db), [_event_row(r, now) for r in known.rows])
        if known.opt_outs:
            client.execute(
                opt_outs.TABLE.insert.format(db=db), list(_opt_out_rows(known.opt_outs, now))
            )
    finally:
        client.disconnect()


def _event_row(r: Row, now: datetime) -> tuple[object, ...]:
    at = r.at.astimezone(UTC)
    return (
        r.event_id, r.event_type, r.channel, at.replace(microsecond=0), at.microsecond // 1000,
        r.subscriber, "s1", r.prefecture, r.brand, "{}", 1, r.partition, 0, now,
    )  # fmt: skip


def _opt_out_rows(
    optouts: Iterable[tuple[str, str]], now: datetime
) -> Iterable[tuple[object, ...]]:
    for subscriber, scope in optouts:
        key = f"{subscriber}:{scope}"
        yield key, subscriber, scope, str(uuid.uuid4()), now, 0, 0, now
