"""The 24h kiosks: sessions and payments per terminal and prefecture, faults, and terminals
that have gone silent.

A terminal is *known* when it produced any event in the range or the :data:`LOOKBACK` before
its end; a known terminal with no session in the range is *silent* (switched off, out of network,
or simply unused: the page lists it for someone to check). Payments are in fen (0.01 CNY).

Terminals are read from the widest buckets that cover the lookback and the range: whole days,
then six-hour blocks, hours and minutes at the edges (:mod:`sinks.tables.kiosk_rollups`), so
ranges are whole minutes, as every page's are. They
count what the sink inserted, which holds no duplicates: the answers of ``events FINAL``.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from clickhouse_driver import Client

from schemas.envelope import PREFECTURES
from sinks.tables.kiosk_rollups import LEVELS

LOOKBACK = timedelta(days=7)

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

#: Each terminal's lookback and range together, from the buckets that cover them
#: (``{merged}``: :data:`_MERGED` of each table read, joined by ``UNION ALL``).
TERMINALS = """
SELECT terminal,
       argMax(prefecture, last_ms) AS terminal_prefecture,
       sumIf(sessions, in_range) AS range_sessions,
       sumIf(payments, in_range) AS range_payments,
       sumIf(paid_fen, in_range) AS range_paid_fen,
       sumIf(faults, in_range) AS range_faults,
       argMaxIf(last_fault, last_fault_ms, in_range) AS range_last_fault,
       toDateTime(intDiv(max(last_ms), 1000), 'UTC') AS last_event
FROM ({merged})
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
    query, params = _query(start, end)
    found = [
        Terminal(terminal, prefecture, int(s), int(p), int(fen), int(f), fault, _utc(last))
        for terminal, prefecture, s, p, fen, f, fault, last in client.execute(query, params)
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


def _query(start: datetime, end: datetime) -> tuple[str, dict[str, int]]:
    """:data:`TERMINALS` over the buckets that cover the lookback and the range, and its
    parameters (Unix seconds)."""
    bounds = [int(t.timestamp()) for t in (min(start, end - LOOKBACK), start, end)]
    spans: list[list[tuple[int, int]]] = [[] for _ in LEVELS]
    for low, high in pairwise(bounds):
        _cover(low, high, 0, spans)
    params = {"start": bounds[1]}
    merged = []
    for (table, bucket, _), found in zip(LEVELS, spans, strict=True):
        where = []
        for i, (low, high) in enumerate(found):
            params[f"{bucket}_{i}_from"], params[f"{bucket}_{i}_to"] = low, high
            where.append(
                f"{bucket} >= toDateTime(%({bucket}_{i}_from)s)"
                f" AND {bucket} < toDateTime(%({bucket}_{i}_to)s)"
            )
        if where:
            merged.append(_MERGED.format(bucket=bucket, table=table, where=" OR ".join(where)))
    return TERMINALS.format(merged="UNION ALL".join(merged)), params


def _cover(low: int, high: int, level: int, spans: list[list[tuple[int, int]]]) -> None:
    """Add to ``spans`` (one list per :data:`LEVELS`) the widest whole buckets that cover
    ``[low, high)``: those of ``level`` inside it, then the narrower ones at its edges."""
    if low >= high:
        return
    *_, seconds = LEVELS[level]
    first, last = -(-low // seconds) * seconds, high // seconds * seconds
    if level == len(LEVELS) - 1 or first >= last:
        if level == len(LEVELS) - 1:
            spans[level].append((low, high))
        else:
            _cover(low, high, level + 1, spans)
        return
    spans[level].append((first, last))
    _cover(low, first, level + 1, spans)
    _cover(last, high, level + 1, spans)


def _utc(moment: datetime) -> datetime:
    """clickhouse-driver returns naive datetimes for DateTime('UTC') columns: they are UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
