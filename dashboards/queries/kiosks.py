"""The 24h kiosks: sessions and payments per terminal and prefecture, faults, and terminals
that have gone silent.

A terminal is *known* when it produced any event in the range or the :data:`LOOKBACK` before
its end; a known terminal with no session in the range is *silent* (switched off, out of network,
or simply unused: the page lists it for someone to check). Payments are in fen (0.01 CNY).
``events`` is read with ``FINAL`` so a duplicate that slipped past the sink is counted once.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clickhouse_driver import Client

from schemas.envelope import PREFECTURES

LOOKBACK = timedelta(days=7)

_IN_RANGE = "occurred_at >= toDateTime(%(start)s)"
_MS = "toUInt64(occurred_at) * 1000 + occurred_ms"

TERMINALS = f"""
SELECT visitParamExtractString(attributes, 'terminal_id') AS terminal,
       argMax(prefecture, {_MS}) AS terminal_prefecture,
       countIf(event_type = 'kiosk.session_started' AND {_IN_RANGE}) AS sessions,
       countIf(event_type = 'kiosk.payment_completed' AND {_IN_RANGE}) AS payments,
       sumIf(visitParamExtractUInt(attributes, 'amount_fen'),
             event_type = 'kiosk.payment_completed' AND {_IN_RANGE}) AS paid_fen,
       countIf(event_type = 'kiosk.terminal_fault' AND {_IN_RANGE}) AS faults,
       argMaxIf(visitParamExtractString(attributes, 'fault_code'), {_MS},
                event_type = 'kiosk.terminal_fault' AND {_IN_RANGE}) AS last_fault,
       max(occurred_at) AS last_event
FROM events FINAL
WHERE channel = 'kiosk'
  AND occurred_at >= toDateTime(%(known_from)s) AND occurred_at < toDateTime(%(end)s)
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
    params = {
        "start": int(start.timestamp()),
        "end": int(end.timestamp()),
        "known_from": int(min(start, end - LOOKBACK).timestamp()),
    }
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


def _utc(moment: datetime) -> datetime:
    """clickhouse-driver returns naive datetimes for DateTime('UTC') columns: they are UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
