"""The tables the sink writes: one :class:`Table` per topic-fed entity, with its DDL, its insert
and how a decoded record becomes a row.

Each table lives in its own module (``sinks/tables/<name>.py``) as ``TABLE``, beside the
queries that read it; :mod:`sinks.routes` lists them all and pairs each with the topic the
contract registry (:mod:`schemas.registry`) says feeds it. A table's module gives the columns
and a function from one record (already decoded into its topic's struct, so every field has
its declared type) to the row's id and values; :class:`Table` adds what every table shares:
the Kafka position and ingest time columns, the insert, the id lookups of :mod:`sinks.writer`,
and the scrubbing of every text it stores. Any string of a record may hold a subscriber number
(a channel system can put one in an id, a reason or a gateway's name as well as in a text), so
every String value of every row, and the id, has each number replaced by its pseudonym token
(:mod:`kernel.scrub`); pseudonyms already made are left as they are.

``row()`` raises (any exception; the sink turns the record into a dead letter) for a value
the struct's type lets through but the column cannot hold: an offset past UInt64, a time
before 1970 or past 2106. It checks each such value as it is read, for the price of a
comparison, so the record fails on its own here instead of in the insert of a whole batch.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from kernel.pseudonym import Pseudonymizer

#: What a ``DateTime`` column holds: seconds since the epoch in a UInt32.
DATETIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
DATETIME_MAX = datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC)

#: The columns every table ends with: where its record sat in Kafka, and when it was read.
POSITION_COLUMNS = ("kafka_partition", "kafka_offset", "ingested_at")

R = TypeVar("R")

#: One record's id and its row without :data:`POSITION_COLUMNS`.
Values = Callable[[R, Pseudonymizer], tuple[str, tuple[Any, ...]]]


@dataclass(frozen=True)
class Table(Generic[R]):
    """A table fed by one topic whose records are ``R``: what the sink, the migrations and the
    rebuild need to know of it.

    ``create_statements`` come in creation order, the table first (views and materialized
    views on it follow). ``id_column`` is what the sink deduplicates on; ``time_column`` is the
    record's own time, the column the table is partitioned by.
    """

    name: str
    create_statements: tuple[str, ...]
    columns: tuple[str, ...]
    id_column: str
    time_column: str
    values: Values[R]

    def __post_init__(self) -> None:
        if self.columns[-3:] != POSITION_COLUMNS:
            raise ValueError(f"{self.name}: columns must end with {POSITION_COLUMNS}")
        if {self.id_column, self.time_column} - set(self.columns):
            raise ValueError(f"{self.name}: id and time columns must be columns")

    @property
    def insert(self) -> str:
        """``INSERT INTO {db}.<table> (<columns>) VALUES`` for clickhouse-driver's row inserts."""
        return f"INSERT INTO {{db}}.{self.name} ({', '.join(self.columns)}) VALUES"

    @property
    def event_time(self) -> int:
        """The index in the row of the record's own time, around which its id is looked up."""
        return self.columns.index(self.time_column)

    @property
    def recent_ids(self) -> str:
        """The ids of partitions ``%(partitions)s`` ingested since ``%(since)s`` (Unix
        seconds), newest first, at most ``%(limit)s``, with their ingest time: what a sink must
        remember so it never inserts them again, bounded in entries and in time."""
        return f"""
SELECT {self.id_column}, toUInt32(ingested_at) AS at FROM {{db}}.{self.name}
WHERE kafka_partition IN %(partitions)s AND ingested_at >= toDateTime(%(since)s)
ORDER BY at DESC
LIMIT %(limit)s
"""

    @property
    def present_ids(self) -> str:
        """Which of the ids in the external table ``ids`` the table holds, among rows whose own
        time lies in ``[%(low)s, %(high)s]`` (Unix seconds): the time bounds the parts read
        (the table is partitioned by it, and it precedes the id in every sort key that has
        both)."""
        return f"""
SELECT {self.id_column} FROM {{db}}.{self.name}
WHERE {self.time_column} BETWEEN toDateTime(%(low)s) AND toDateTime(%(high)s)
  AND {self.id_column} IN ids
"""

    @property
    def newest_ingest(self) -> str:
        """When the table's newest row was ingested (Unix seconds; 0 when it is empty)."""
        return f"SELECT toUInt32(max(ingested_at)) FROM {{db}}.{self.name}"

    def row(
        self,
        record: R,
        *,
        partition: int,
        offset: int,
        ingested_at: datetime,
        pseudonymize: Pseudonymizer,
    ) -> tuple[str, tuple[Any, ...]]:
        """The id and the row of one record read at ``partition`` and ``offset``, every
        subscriber number in every text (the id included) replaced by its pseudonym token."""
        key, values = self.values(record, pseudonymize)
        scrub = pseudonymize.scrub
        return scrub(key), (
            *[
                # A string of ten characters or fewer cannot hold an 11-digit number.
                (scrub(v) if len(v) > 10 else v)
                if type(v) is str
                else _scrubbed_items(v, scrub)
                if type(v) is list
                else v
                for v in values
            ],
            uint(partition, 16),
            uint(offset, 64),
            ingested_at,
        )


def _scrubbed_items(items: list[Any], scrub: Callable[[str], str]) -> list[Any]:
    """An Array(String) column's value with each item scrubbed."""
    return [scrub(v) if type(v) is str else v for v in items]


@dataclass(frozen=True)
class View:
    """A view over tables that no topic feeds directly: a plain view (``nudge_uplift``), or
    an aggregate table a materialized view fills from ``events``
    (``volume_per_five_minutes``).

    A materialized view sees only the rows inserted after it exists, so an aggregate table
    also has ``fill_statements``: the rows already in ``events``, aggregated once, as the
    migration that creates it runs them.
    """

    name: str
    create_statements: tuple[str, ...]
    fill_statements: tuple[str, ...] = ()


def rollup(name: str, create_table: str, select: str) -> View:
    """The aggregate table ``name`` (``create_table``), the materialized view ``<name>_mv``
    that adds ``select`` of every block inserted into ``events`` to it, and its fill.

    ``select`` reads ``{db}.events`` and gives the table's columns in the table's order. The
    fill inserts ``select`` over every stored row only while the table is empty, so running
    it again adds nothing. Migrations run before the sink starts (the deployment's
    ``migrate`` step), so no row reaches both the view and the fill.
    """
    view = f"CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.{name}_mv TO {{db}}.{name} AS {select}"
    fill = (
        f"INSERT INTO {{db}}.{name} SELECT * FROM ({select})"
        f" WHERE (SELECT count() FROM {{db}}.{name}) = 0"
    )
    return View(name=name, create_statements=(create_table, view), fill_statements=(fill,))


def uint(value: int, bits: int) -> int:
    """A UInt<bits> column's value: an int in range."""
    if 0 <= value < 1 << bits:
        return value
    raise ValueError(f"expected an integer from 0 to {(1 << bits) - 1}, found {value!r:.100}")


def moment(value: datetime) -> datetime:
    """A DateTime('UTC') column's value; a time without an offset is UTC (as the client would
    read it), and it must lie within DateTime's range."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if DATETIME_MIN <= value <= DATETIME_MAX:
        return value
    raise ValueError(f"{value.isoformat()} is outside what a DateTime holds (1970 to 2106)")


#: The fills of tables derived per subscriber from the stored events (the contacts, the IVR
#: calls) group every session of a subscriber at once; at a province's volume that is more
#: than a server lets one query use. They name ``{slice}`` where they read a subscriber's rows
#: (events, and the table's own rows in their run-once guard), and run once per share of the
#: subscribers: a subscriber's rows all fall in one share, so the answer is the same.
FILL_SLICES = 16


def sliced(template: str) -> list[str]:
    """``template`` once per share of the subscribers when it names ``{slice}`` (each guarded
    on its own share, so a fill interrupted half-way runs the rest again), else as it is."""
    if "{slice}" not in template:
        return [template]
    return [
        template.replace("{slice}", f"cityHash64(subscriber) % {FILL_SLICES} = {i}")
        for i in range(FILL_SLICES)
    ]


def letters(hex_digits: str) -> str:
    """The SQL of ``hex_digits`` with each decimal digit d replaced by the letter q + d: an id
    a fill makes from a digest, in letters only as the stage's ids are (no scrubber takes a
    run of its digits for a phone number)."""
    for d in range(10):
        hex_digits = f"replaceAll({hex_digits}, '{d}', '{chr(ord('q') + d)}')"
    return hex_digits


def millis(value: datetime) -> int:
    """The milliseconds of a time, for the ``*_ms`` column beside its whole-second column."""
    return value.microsecond // 1000
