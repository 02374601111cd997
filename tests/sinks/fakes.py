"""A ClickHouse that lives in a dict, for the sink's unit tests, the records it reads, and
the few calls its stage makes on a consumer.

:class:`FakeClickHouse` answers the sink's statements the way the server does: an insert is
serialized column by column with clickhouse-driver's own column writers (so a value the real
client would refuse raises the real client's error), is all or nothing, and is then kept;
the memory and lookup queries are answered from what was kept. ``refuse`` makes the "server"
refuse a batch that holds a matching row (code 395, as ``throwIf`` does), and ``down`` makes
every statement fail as an unreachable server does.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clickhouse_driver.bufferedwriter import BufferedSocketWriter
from clickhouse_driver.columns.service import write_column
from clickhouse_driver.context import Context
from clickhouse_driver.errors import ServerException

from kernel.settings import Settings
from sinks import migrations
from sinks.routes import routes
from sinks.tables import Table
from tests.fixtures.services import local_settings

_COLUMN = re.compile(r"^\s+(\w+) (.+?),?$")
_ADDED = re.compile(r"^\s*ALTER TABLE \{db\}\.(\w+) ADD COLUMN (\w+) (\S+)")
_INSERT = re.compile(r"INSERT INTO \w+\.(\w+) \(([^)]*)\) VALUES")


def column_types(table: Table[Any]) -> dict[str, str]:
    """Column → ClickHouse type, read from the table's CREATE TABLE statement and the
    columns later migrations add to it (``ALTER TABLE … ADD COLUMN``)."""
    create = table.create_statements[0]
    body = create.split("(", 1)[1].rsplit(")", 1)[0]
    types = {m[1]: m[2] for line in body.splitlines() if (m := _COLUMN.match(line))}
    for name in migrations.available():
        for statement in migrations.operations(name):
            added = _ADDED.match(statement)
            if added is not None and added[1] == table.name:
                types[added[2]] = added[3]
    return types


class _Discard:
    def sendall(self, _data: bytes) -> None:
        pass


class _ServerInfo:
    timezone = "UTC"
    session_timezone = None
    revision = 54406


def _context() -> Context:
    context = Context()
    context.client_settings = {
        "strings_as_bytes": False,
        "strings_encoding": "utf-8",
        "use_numpy": False,
        "input_format_null_as_default": False,
    }
    context.settings = {}
    context.server_info = _ServerInfo()
    return context


def serialize(types: dict[str, str], columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Write ``rows`` as clickhouse-driver would for an insert; raise what it raises."""
    context, out = _context(), BufferedSocketWriter(_Discard(), 1 << 16)
    for i, name in enumerate(columns):
        write_column(context, name, types[name], [row[i] for row in rows], out)


@dataclass
class FakeClickHouse:
    settings: Settings
    refuse: Callable[[str, dict[str, Any]], bool] = lambda _table, _row: False
    down: bool = False
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    statements: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.types = {t.name: column_types(t) for t in routes(self.settings).values()}
        self.tables = {name: [] for name in self.types}

    def execute(
        self,
        query: str,
        params: Any = None,
        external_tables: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> list[tuple[Any, ...]]:
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        self.statements.append(query)
        if query == "SELECT 1":
            return [(1,)]
        if insert := _INSERT.search(query):
            return self._insert(insert[1], [c.strip() for c in insert[2].split(",")], params)
        table = re.search(r"FROM \w+\.(\w+)", query)[1]  # type: ignore[index]
        rows = self.tables[table]
        if "max(ingested_at)" in query:
            return [(max((int(r["ingested_at"].timestamp()) for r in rows), default=0),)]
        id_column = query.split()[1].rstrip(",")
        if "IN ids" in query:
            assert external_tables is not None
            wanted = {row["id"] for row in external_tables[0]["data"]}
            time_column = re.search(r"WHERE (\w+) BETWEEN", query)[1]  # type: ignore[index]
            return [
                (r[id_column],)
                for r in rows
                if r[id_column] in wanted
                and params["low"] <= int(r[time_column].timestamp()) <= params["high"]
            ]
        recent = sorted(
            (
                (r[id_column], int(r["ingested_at"].timestamp()))
                for r in rows
                if r["kafka_partition"] in params["partitions"]
                and r["ingested_at"].timestamp() >= params["since"]
            ),
            key=lambda row: -row[1],
        )
        return recent[: params["limit"]]

    def _insert(
        self, table: str, columns: list[str], rows: list[tuple[Any, ...]]
    ) -> list[tuple[Any, ...]]:
        serialize(self.types[table], columns, rows)
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        for record in records:
            if self.refuse(table, record):
                raise ServerException(
                    "DB::Exception: Value passed to 'throwIf' function is non zero. "
                    "Stack trace:\n0. somewhere",
                    code=395,
                )
        self.tables[table].extend(records)
        return []


@dataclass(frozen=True)
class Record:
    """The fields of aiokafka's ``ConsumerRecord`` the sink reads."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    value: bytes | None


@dataclass
class FakeConsumer:
    """What the sink's stage asks of its consumer outside the fetch loop: commits, pauses,
    the assignment, and each partition's end and position (its lag)."""

    assigned: set[Any] = field(default_factory=set)
    paused_partitions: set[Any] = field(default_factory=set)
    commits: list[dict[Any, int]] = field(default_factory=list)
    #: A partition's end offset; one missing is not known yet, as before its first fetch.
    ends: dict[Any, int] = field(default_factory=dict)
    positions: dict[Any, int] = field(default_factory=dict)

    def highwater(self, partition: Any) -> int | None:
        return self.ends.get(partition)

    async def position(self, partition: Any) -> int:
        return self.positions.get(partition, 0)

    async def commit(self, offsets: dict[Any, int]) -> None:
        self.commits.append(dict(offsets))

    def assignment(self) -> set[Any]:
        return set(self.assigned)

    def pause(self, *partitions: Any) -> None:
        assert set(partitions) <= self.assigned
        self.paused_partitions.update(partitions)

    def resume(self, *partitions: Any) -> None:
        self.paused_partitions.difference_update(partitions)

    def paused(self) -> set[Any]:
        return set(self.paused_partitions)


def unit_settings(**values: Any) -> Settings:
    """Settings for a sink that talks to no service."""
    return local_settings(environment="test", **values)


def stamp(moment: datetime) -> int:
    """A broker timestamp (milliseconds) for ``moment``."""
    return int(moment.timestamp() * 1000)
