"""One module per entity: its DDL, its insert statement and how a topic message becomes a row.

Every table module has ``TABLE``, ``COLUMNS``, ``INSERT``, ``EVENT_TIME`` (the index in the row
of the record's own time, the column the table is partitioned by), ``RECENT_IDS`` and
``PRESENT_IDS`` (how :mod:`sinks.writer` learns which ids the table already holds), and
``row()``.

``row()`` is total over bytes: it returns a row the ClickHouse client can write, or raises (any
exception; the sink turns the record into a dead letter). The helpers below check each value
against its column's type as it is read, for the price of a type test, so a value ClickHouse
would refuse (a number in a String, an offset past UInt64, a date past 2106) fails on its own
record here instead of in the insert of a whole batch.
"""

from datetime import UTC, datetime

#: What a ``DateTime`` column holds: seconds since the epoch in a UInt32.
DATETIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
DATETIME_MAX = datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC)


def insert_statement(table: str, columns: tuple[str, ...]) -> str:
    """``INSERT INTO {db}.<table> (<columns>) VALUES`` for clickhouse-driver's row inserts."""
    return f"INSERT INTO {{db}}.{table} ({', '.join(columns)}) VALUES"


def recent_ids_query(table: str, id_column: str) -> str:
    """The ids of partitions ``%(partitions)s`` ingested since ``%(since)s`` (Unix seconds),
    newest first, at most ``%(limit)s``, with their ingest time: what a sink must remember so
    it never inserts them again, bounded in entries and in time."""
    return f"""
SELECT {id_column}, toUInt32(ingested_at) AS at FROM {{db}}.{table}
WHERE kafka_partition IN %(partitions)s AND ingested_at >= toDateTime(%(since)s)
ORDER BY at DESC
LIMIT %(limit)s
"""


def newest_ingest_query(table: str) -> str:
    """When the table's newest row was ingested (Unix seconds; 0 when it is empty)."""
    return f"SELECT toUInt32(max(ingested_at)) FROM {{db}}.{table}"


def present_ids_query(table: str, id_column: str, time_column: str) -> str:
    """Which of the ids in the external table ``ids`` the table holds, among rows whose own
    time lies in ``[%(low)s, %(high)s]`` (Unix seconds): the time bounds the parts read (the
    table is partitioned by it, and it precedes the id in every sort key that has both)."""
    return f"""
SELECT {id_column} FROM {{db}}.{table}
WHERE {time_column} BETWEEN toDateTime(%(low)s) AND toDateTime(%(high)s)
  AND {id_column} IN ids
"""


def text(value: object) -> str:
    """A String column's value: only a str (the client would fail on anything else)."""
    if type(value) is str:
        return value
    raise TypeError(f"expected a string, found {type(value).__name__}")


def texts(value: object) -> list[str]:
    """An Array(String) column's value: a list of str."""
    if type(value) is list and all(type(v) is str for v in value):
        return value
    raise TypeError(f"expected a list of strings, found {value!r:.100}")


def flag(value: object) -> int:
    """A UInt8 column's 0 or 1 from a JSON bool."""
    if type(value) is bool:
        return int(value)
    raise TypeError(f"expected true or false, found {value!r:.100}")


def uint(value: object, bits: int) -> int:
    """A UInt<bits> column's value: an int in range (a JSON bool is not a number)."""
    if type(value) is int and 0 <= value < 1 << bits:
        return value
    raise ValueError(f"expected an integer from 0 to {(1 << bits) - 1}, found {value!r:.100}")


def number(value: object) -> float:
    """A Float64 column's value from a JSON number (not a bool, not a numeric string)."""
    if type(value) is float or type(value) is int:
        return float(value)  # OverflowError past 1e308, which the sink dead-letters
    raise TypeError(f"expected a number, found {value!r:.100}")


def moment(value: object) -> datetime:
    """A DateTime('UTC') column's value from an ISO 8601 string; a time without an offset
    is UTC (as the client would read it), and it must lie within DateTime's range."""
    parsed = datetime.fromisoformat(text(value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if DATETIME_MIN <= parsed <= DATETIME_MAX:
        return parsed
    raise ValueError(f"{value} is outside what a DateTime holds (1970 to 2106)")
