"""The 24h kiosks: sessions and payments per terminal and prefecture, faults, and terminals
that have gone silent.

A terminal is *known* when it produced any event in the range or the :data:`LOOKBACK` before
its end; a known terminal with no session in the range is *silent* (switched off, out of network,
or simply unused: the page lists it for someone to check). Payments are in fen (0.01 CNY).

Terminals are read from ``kiosk_terminals_per_hour`` for the whole hours of the lookback and
of the range, and from ``kiosk_terminals_per_minute`` for the minutes around them
(:mod:`sinks.tables.kiosk_rollups`), so ranges are whole minutes, as every page's are. They
count what the sink inserted, which holds no duplicates: the answers of ``events FINAL``.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from clickhouse_driver import Client

from schemas.envelope import PREFECTURES

LOOKBACK = timedelta(days=7)

_HOUR = 3600

#: A terminal's state merged over some buckets of one of its tables.
_MERGED = """
SELECT terminal, {bucket} >= toDateTime(%(start)s) AS in_range,
       argMaxMerge(prefecture_state) AS prefecture,
       maxMerge(last_ms_state) AS last_ms,
       sumMerge(sessions_state) AS sessions,
       sumMerge(payments_state) AS payments,
       sumMerge(paid_fen_state) AS paid_fen,
       sumMerge(faults_state) AS faults,
       argMaxIfMerge(last_fault_state) AS last_fault,
       maxIfMerge(last_fault_ms_state) AS last_fault_ms
FROM {table}
WHERE {where}
GROUP BY terminal, in_range
"""

#: The whole hours of the lookback and of the range from the hourly table, the minutes
#: around them from the minute one; then each terminal's lookback and range together.
TERMINALS = f"""
SELECT terminal,
       argMax(prefecture, last_ms) AS terminal_prefecture,
       sumIf(sessions, in_range) AS range_sessions,
       sumIf(payments, in_range) AS range_payments,
       sumIf(paid_fen, in_range) AS range_paid_fen,
       sumIf(faults, in_range) AS range_faults,
       argMaxIf(last_fault, last_fault_ms, in_range) AS range_last_fault,
       toDateTime(intDiv(max(last_ms), 1000), 'UTC') AS last_event
FROM (
    {
    _MERGED.format(
        bucket="hour",
        table="kiosk_terminals_per_hour",
        where="hour >= toDateTime(%(hours_0)s) AND hour < toDateTime(%(hours_1)s)"
        " OR hour >= toDateTime(%(hours_2)s) AND hour < toDateTime(%(hours_3)s)",
    )
}
    UNION ALL
    {
    _MERGED.format(
        bucket="minute",
        table="kiosk_terminals_per_minute",
        where=" OR ".join(
            f"minute >= toDateTime(%(minutes_{i})s) AND minute < toDateTime(%(minutes_{i + 1})s)"
            for i in range(0, 8, 2)
        ),
    )
}
)
GROUP BY terminal
"""


@dataclass(frozen=True)
class Terminal:
    """One terminal's range: sessions, payments (count and fen), faults and its last fault."""

    terminal: str
    prefecture: str
    sessions: int
    payments: int
    paid_fen: int
    faults: int
    last_fault: str
    last_event: datetime

    @property
    def silent(self) -> bool:
        return self.sessions == 0


@dataclass
class Prefecture:
    """A prefecture's terminals (known and in use) and what they did in the range."""

    terminals: int = 0
    active: int = 0
    sessions: int = 0
    payments: int = 0
    paid_fen: int = 0
    faults: int = 0


def terminals(client: Client, start: datetime, end: datetime) -> list[Terminal]:
    """Every terminal known at ``end``, by id."""
    params = {"start": int(start.timestamp()), **_buckets(start, end)}
    found = [
        Terminal(terminal, prefecture, int(s), int(p), int(fen), int(f), fault, _utc(last))
        for terminal, prefecture, s, p, fen, f, fault, last in client.execute(TERMINALS, params)
    ]
    return sorted(found, key=lambda t: t.terminal)


def by_prefecture(found: list[Terminal]) -> dict[str, Prefecture]:
    """Terminals summed per prefecture; every prefecture present, in vocabulary order."""
    split = {p: Prefecture() for p in PREFECTURES}
    for t in found:
        row = split.setdefault(t.prefecture, Prefecture())
        row.terminals += 1
        row.active += not t.silent
        row.sessions += t.sessions
        row.payments += t.payments
        row.paid_fen += t.paid_fen
        row.faults += t.faults
    return split


def _buckets(start: datetime, end: datetime) -> dict[str, int]:
    """The bounds (Unix seconds) of the hours (``hours_0`` to ``hours_3``: two ranges) and
    minutes (``minutes_0`` to ``minutes_7``: four) that together cover the lookback and the
    range, each whole hour of either from the hourly table; an unused range is empty."""
    bounds = [int(t.timestamp()) for t in (min(start, end - LOOKBACK), start, end)]
    hours: list[int] = []
    minutes: list[int] = []
    for low, high in pairwise(bounds):
        first, last = -(-low // _HOUR) * _HOUR, high // _HOUR * _HOUR
        if first < last:
            hours += [first, last]
            minutes += [low, first, last, high]
        else:
            hours += [0, 0]
            minutes += [low, high, 0, 0]
    return {
        **{f"hours_{i}": s for i, s in enumerate(hours)},
        **{f"minutes_{i}": s for i, s in enumerate(minutes)},
    }


def _utc(moment: datetime) -> datetime:
    """clickhouse-driver returns naive datetimes for DateTime('UTC') columns: they are UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
