"""Aggregate tables of ``events`` for the kiosks page's terminals, so a week of a province's
terminals is read as a few dozen rows per terminal instead of every kiosk event.

The panel groups by terminal, not by session: what it shows of a terminal (its sessions,
payments, faults and last fault in the range, its prefecture and last event over the week
before) aggregates per terminal and time bucket. Four tables of widening buckets cover a range
between them (:data:`LEVELS`): whole UTC days from ``kiosk_terminals_per_day``, the whole
six-hour blocks at their edges from ``kiosk_terminals_per_six_hours``, the whole hours at
theirs from ``kiosk_terminals_per_hour`` and the minutes left from
``kiosk_terminals_per_minute``. A week and a day ending at any minute is then some 40 rows per
terminal instead of 170 hours and the minutes at their edges. All four are filled by
materialized views on ``events`` (and, when created over stored events, by their fills:
:func:`sinks.tables.rollup`). Counts are ``sum`` states of what the sink inserted, which
is exact because the sink removes duplicates before inserting, as ``events FINAL`` counted;
the prefecture and the last fault are ``argMax`` states by the event's millisecond, kept with
that millisecond so the buckets of all four tables combine.
"""

from sinks.engines import aggregating_merge_tree
from sinks.tables import View, rollup

_MS = "toUInt64(occurred_at) * 1000 + occurred_ms"
_FAULT = "event_type = 'kiosk.terminal_fault'"
_PAYMENT = "event_type = 'kiosk.payment_completed'"


def _terminals(name: str, bucket: str, start_of: str) -> View:
    """The aggregate table ``name`` of each terminal per ``bucket`` (``start_of`` the event's
    time, a format string of the column)."""
    return rollup(
        name,
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.{name} (
    {bucket} DateTime('UTC'),
    terminal String,
    prefecture_state AggregateFunction(argMax, String, UInt64),
    last_ms_state AggregateFunction(max, UInt64),
    sessions_state AggregateFunction(sum, UInt64),
    payments_state AggregateFunction(sum, UInt64),
    paid_fen_state AggregateFunction(sum, UInt64),
    faults_state AggregateFunction(sum, UInt64),
    last_fault_state AggregateFunction(argMaxIf, String, UInt64, UInt8),
    last_fault_ms_state AggregateFunction(maxIf, UInt64, UInt8)
) {aggregating_merge_tree(partition_by=f"toYYYYMM({bucket})", order_by=f"{bucket}, terminal")}
""",
        f"""
SELECT {start_of.format("occurred_at")} AS {bucket},
       visitParamExtractString(attributes, 'terminal_id') AS terminal,
       argMaxState(prefecture, {_MS}) AS prefecture_state,
       maxState({_MS}) AS last_ms_state,
       sumState(toUInt64(event_type = 'kiosk.session_started')) AS sessions_state,
       sumState(toUInt64({_PAYMENT})) AS payments_state,
       sumState(if({_PAYMENT}, visitParamExtractUInt(attributes, 'amount_fen'), toUInt64(0)))
           AS paid_fen_state,
       sumState(toUInt64({_FAULT})) AS faults_state,
       argMaxIfState(visitParamExtractString(attributes, 'fault_code'), {_MS}, {_FAULT})
           AS last_fault_state,
       maxIfState({_MS}, {_FAULT}) AS last_fault_ms_state
FROM {{db}}.events
WHERE channel = 'kiosk'
GROUP BY {bucket}, terminal
""",
    )


def _every(seconds: int) -> str:
    """The start of the UTC block of ``seconds`` that holds a time (a format string)."""
    return f"toDateTime(intDiv(toUInt32({{}}), {seconds}) * {seconds}, 'UTC')"


KIOSK_TERMINALS_PER_DAY = _terminals("kiosk_terminals_per_day", "day", _every(86_400))
KIOSK_TERMINALS_PER_SIX_HOURS = _terminals(
    "kiosk_terminals_per_six_hours", "six_hours", _every(21_600)
)
KIOSK_TERMINALS_PER_HOUR = _terminals("kiosk_terminals_per_hour", "hour", "toStartOfHour({})")
KIOSK_TERMINALS_PER_MINUTE = _terminals(
    "kiosk_terminals_per_minute", "minute", "toStartOfMinute({})"
)

#: The tables that cover a range of whole minutes, widest buckets first: (table, its bucket
#: column, the bucket's length in seconds). Each bucket starts at a multiple of its length
#: since the epoch, so a wider one is made of whole narrower ones.
LEVELS: tuple[tuple[str, str, int], ...] = (
    ("kiosk_terminals_per_day", "day", 86_400),
    ("kiosk_terminals_per_six_hours", "six_hours", 21_600),
    ("kiosk_terminals_per_hour", "hour", 3_600),
    ("kiosk_terminals_per_minute", "minute", 60),
)
