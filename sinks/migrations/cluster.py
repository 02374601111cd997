"""The tables laid out on a ClickHouse cluster: how :func:`sinks.migrations.migrate` rewrites
each statement when ``clickhouse_cluster`` names one.

Migrations are written for one server. On a cluster, :meth:`Cluster.rewrite` turns each of
their statements, already formatted with the database, into the statements the cluster runs:

- every DDL statement runs ``ON CLUSTER <cluster>``, so every server gets it;
- a MergeTree-family table ``x`` becomes ``x_local`` on every server, with the Replicated
  variant of its engine (``ReplicatedReplacingMergeTree('<prefix>/{shard}/<db>/x_local',
  '{replica}', <the engine's own arguments>)``; the macros are each server's), or its own
  engine when ``clickhouse_replicated`` is off; and ``x`` becomes a ``Distributed`` table with
  the same columns over the ``x_local`` of every shard. The sink, the dashboards and every
  other reader keep using ``x``;
- a materialized view reads the shard-local tables and writes into the local target, so each
  shard aggregates the rows it holds (a row inserted through ``x`` reaches one shard's
  ``x_local``, and fires that shard's view once). A view that joins another table would see only
  that shard's part of it;
- a plain view keeps reading the Distributed tables: a query of it sees every shard;
- an ``ALTER`` of a sharded table changes ``x_local``; one that adds, drops, modifies, renames
  or comments a column changes ``x`` as well, so both keep the same columns (write such column
  changes in an ``ALTER`` of their own: a Distributed table takes nothing else);
- a ``DROP`` drops both tables; an ``INSERT`` runs once, through the Distributed tables.

With Replicated tables, the cluster's shards must set ``internal_replication``, so that the
Distributed table writes each row to one replica. ClickHouse 18.16 then refuses the
``ALTER ... ON CLUSTER`` of a Distributed table (it is not replicated, its shards are): a column
change of a migration would need the Distributed table altered on each server by hand there.

Any other statement is refused with a :class:`ValueError`, so a migration of a new kind fails
its test instead of running on one server only.

**Sharding.** ReplacingMergeTree and SummingMergeTree collapse rows only within one server, so
all copies of a row (a replay writes the same record again) must land on the same shard. A
table with a ``subscriber`` column is sharded by it: every row of a subscriber sits on one shard,
and since a record's subscriber is part of the record, its copies land together. Any other table
is sharded by its ``ORDER BY`` key, the very key its engine collapses on.

**The migration log.** ``schema_migrations`` is a MergeTree table like any other: it becomes
``schema_migrations_local`` on every shard behind a Distributed ``schema_migrations``, so the log
is one for the whole cluster and ``migrate`` may run from any server.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Column changes an ``ALTER`` must make on the Distributed table as well.
_COLUMN_CHANGE = re.compile(r"\b(ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b", re.IGNORECASE)
_DROP_COLUMN = re.compile(r"\bDROP\s+COLUMN\b", re.IGNORECASE)
_ENGINE = re.compile(r"\bENGINE\s*=\s*(?P<engine>\w+)\s*\(", re.IGNORECASE)
_ORDER_BY = re.compile(r"\bORDER\s+BY\s+", re.IGNORECASE)
#: Entries of a column list that are no column.
_NOT_COLUMNS = frozenset({"INDEX", "CONSTRAINT", "PROJECTION", "PRIMARY"})


@dataclass(frozen=True)
class Table:
    """A ``CREATE TABLE`` statement taken apart: what goes before the name, the name, the
    column list as written (with the spaces around it), the engine, its arguments and what
    follows them (``PARTITION BY``, ``ORDER BY``...)."""

    head: str
    name: str
    columns: str
    engine: str
    arguments: str
    tail: str

    @property
    def column_names(self) -> list[str]:
        inner = self.columns.strip()[1:-1]
        names = [entry.split()[0].strip("`") for entry in _split(inner) if entry.strip()]
        return [n for n in names if n.upper() not in _NOT_COLUMNS]

    @property
    def order_by(self) -> str:
        """The sort key's expressions, without brackets: what the engine collapses on."""
        found = _ORDER_BY.search(self.tail)
        if found is None:
            raise ValueError(f"{self.name}: a MergeTree table without ORDER BY")
        start = found.end()
        if self.tail[start] == "(":
            return self.tail[start + 1 : _closing(self.tail, start)].strip()
        return self.tail[start:].split()[0]

    @property
    def sharding_key(self) -> str:
        if "subscriber" in self.column_names:
            return "cityHash64(subscriber)"
        key = self.order_by
        return f"cityHash64({key})" if key and key != "tuple()" else "rand()"


def _closing(text: str, opening: int) -> int:
    """The index of the bracket that closes the one at ``opening``."""
    depth = 0
    for i in range(opening, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ValueError(f"unbalanced brackets in {text[opening:][:200]!r}")


def _split(text: str) -> list[str]:
    """``text`` split at its commas outside brackets and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if char == "," and depth == 0:
                parts.append(text[start:i])
                start = i + 1
    parts.append(text[start:])
    return parts


@dataclass(frozen=True)
class Cluster:
    """The layout of ``database`` on the cluster ``name``.

    ``sharded`` names the MergeTree-family tables of every migration (:func:`merge_trees`):
    a statement of one migration may read or change a table another one created.
    """

    name: str
    database: str
    sharded: frozenset[str]
    replicated: bool = True
    zookeeper_prefix: str = "/clickhouse/tables"

    def rewrite(self, statement: str) -> tuple[str, ...]:
        """The statements the cluster runs for ``statement`` (formatted with the database)."""
        db = re.escape(self.database)
        on = f" ON CLUSTER {self.name}"
        if re.match(r"\s*INSERT\s+INTO\s", statement, re.IGNORECASE):
            return (statement,)
        if database := re.match(
            rf"(\s*CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?{db}\b)(.*)",
            statement,
            re.IGNORECASE | re.DOTALL,
        ):
            return (f"{database[1]}{on}{database[2]}",)
        if table := parse_table(statement, self.database):
            return self._table(table)
        if found := _object(
            statement, r"CREATE\s+MATERIALIZED\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?", db
        ):
            head, view, body = found
            if not re.match(r"\s+TO\s", body, re.IGNORECASE):
                raise ValueError(
                    f"materialized view {view} keeps its rows in an inner table: on a cluster "
                    "it must write TO a table of its own, created before it"
                )
            return (f"{head}{self.database}.{view}{on}{self._local_names(body)}",)
        if found := _object(statement, r"CREATE\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?", db):
            head, view, body = found
            return (f"{head}{self.database}.{view}{on}{body}",)
        if found := _object(statement, r"ALTER\s+TABLE\s+", db):
            return self._alter(*found)
        if found := _object(statement, r"DROP\s+(?:TABLE|VIEW)\s+(?:IF\s+EXISTS\s+)?", db):
            head, name, body = found
            names = [name, f"{name}_local"] if name in self.sharded else [name]
            return tuple(f"{head}{self.database}.{n}{on}{body}" for n in names)
        raise ValueError(
            f"no cluster layout is known for this statement; teach sinks/migrations/cluster.py "
            f"how it runs on a cluster: {statement.strip()[:200]!r}"
        )

    def _table(self, table: Table) -> tuple[str, ...]:
        on = f" ON CLUSTER {self.name}"
        if table.name not in self.sharded:
            return (
                f"{table.head}{self.database}.{table.name}{on}{table.columns}"
                f"ENGINE = {table.engine}({table.arguments}){table.tail}",
            )
        local = f"{table.name}_local"
        engine, arguments = table.engine, table.arguments
        if self.replicated:
            path = f"{self.zookeeper_prefix}/{{shard}}/{self.database}/{local}"
            engine = f"Replicated{engine}"
            own = [arguments] if arguments.strip() else []
            arguments = ", ".join([f"'{path}'", "'{replica}'", *own])
        distributed = f"Distributed({self.name}, {self.database}, {local}, {table.sharding_key})"
        return (
            f"{table.head}{self.database}.{local}{on}{table.columns}"
            f"ENGINE = {engine}({arguments}){table.tail}",
            f"{table.head}{self.database}.{table.name}{on}{table.columns}ENGINE = {distributed}",
        )

    def _alter(self, head: str, name: str, body: str) -> tuple[str, ...]:
        on = f" ON CLUSTER {self.name}"
        if name not in self.sharded:
            return (f"{head}{self.database}.{name}{on}{body}",)
        local = f"{head}{self.database}.{name}_local{on}{body}"
        if not _COLUMN_CHANGE.search(body):
            return (local,)
        distributed = f"{head}{self.database}.{name}{on}{body}"
        # Readers see the Distributed table: it never names a column the shards lack.
        return (distributed, local) if _DROP_COLUMN.search(body) else (local, distributed)

    def _local_names(self, sql: str) -> str:
        """``sql`` with every sharded table ``<db>.x`` named ``<db>.x_local``."""
        return re.sub(
            rf"\b{re.escape(self.database)}\.(\w+)\b",
            lambda m: f"{self.database}.{m[1]}_local" if m[1] in self.sharded else m[0],
            sql,
        )


def _object(statement: str, verb: str, db: str) -> tuple[str, str, str] | None:
    """(what precedes the name, the name, the rest) of ``<verb> <db>.<name> ...``."""
    found = re.match(rf"(\s*{verb}){db}\.(\w+)(.*)", statement, re.IGNORECASE | re.DOTALL)
    return (found[1], found[2], found[3]) if found else None


def parse_table(statement: str, database: str) -> Table | None:
    """``statement`` taken apart when it is a ``CREATE TABLE`` with a column list and an
    engine; None when it is none."""
    found = _object(statement, r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?", re.escape(database))
    if found is None:
        return None
    head, name, body = found
    engine = _ENGINE.search(body)
    if engine is None or not body.lstrip().startswith("("):
        raise ValueError(f"table {name}: expected a column list and an ENGINE clause")
    opening = engine.end() - 1
    closing = _closing(body, opening)
    return Table(
        head=head,
        name=name,
        columns=body[: engine.start()],
        engine=engine["engine"],
        arguments=body[opening + 1 : closing],
        tail=body[closing + 1 :],
    )


def merge_trees(statements: Iterable[str], database: str) -> frozenset[str]:
    """The tables of ``statements`` whose engine is of the MergeTree family: those a cluster
    shards. A migration written for one server never names a Replicated engine itself."""
    tables = [t for t in (parse_table(s, database) for s in statements) if t is not None]
    for t in tables:
        if t.engine.startswith("Replicated"):
            raise ValueError(
                f"table {t.name} is created {t.engine}: migrations create plain engines, and "
                "the cluster layout makes them Replicated"
            )
    return frozenset(t.name for t in tables if t.engine.endswith("MergeTree"))
