"""Numbered, idempotent ClickHouse migrations: ``channelhub migrate``.

Each migration is a module ``NNNN_what.py`` in this package with an ``OPERATIONS`` tuple of
statements (``{db}`` stands for the database). Applied migrations are recorded in
``schema_migrations``; every statement is also idempotent on its own (``IF NOT EXISTS``), so a
migration interrupted half-way simply runs again.

A table or view new to the registry gets its migration from :func:`write_missing`
(``channelhub migrate --new``): one module per table that no migration creates yet, applying
its CREATE statements as the table object renders them. A change to an existing table is an
``ALTER`` written by hand in a new module. ClickHouse 18.16 takes no ``IF NOT EXISTS`` on
``ADD COLUMN``, so the runner skips an ``ALTER TABLE {db}.<table> ADD COLUMN <name>`` whose
column the table has already: such a migration, interrupted, runs again too. Likewise an
``INSERT INTO {db}.<a> SELECT * FROM {db}.<b>`` whose table ``b`` is gone is skipped: a table
rebuilt through a staging copy (migration 0019) has already been copied out of it.

Migrations are written for one server. With ``clickhouse_cluster`` set, every statement (the
log's own table too) is laid out on that cluster as it runs: ``ON CLUSTER``, shard-local
tables behind Distributed ones (:mod:`sinks.migrations.cluster`), each insert through them
finished on the shards before the next statement (:data:`ON_CLUSTER`). Without it the
statements run exactly as written.
"""

import importlib
import logging
import re
from pathlib import Path

from clickhouse_driver import Client

from kernel.settings import Settings
from sinks.client import connect, database_name, storage_errors
from sinks.migrations.cluster import Cluster, merge_trees
from sinks.tables import sliced

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+$")
_ADD_COLUMN = re.compile(r"^\s*ALTER\s+TABLE\s+\{db\}\.(\w+)\s+ADD\s+COLUMN\s+(\w+)\s", re.I)
_COPY = re.compile(
    r"^\s*INSERT\s+INTO\s+\{db\}\.\w+\s+SELECT\s+\*\s+FROM\s+\{db\}\.(\w+)\s*$", re.I
)
HAS_TABLE = "SELECT count() FROM system.tables WHERE database = %(db)s AND name = %(table)s"
HAS_COLUMN = """
SELECT count() FROM system.columns
WHERE database = %(db)s AND table = %(table)s AND name = %(column)s
"""

#: On a cluster an insert through a Distributed table is queued and sent to the shards later;
#: a migration's next statement (the drop of what a rebuild copied out of, say) must find the
#: rows in place, so every statement waits for them.
ON_CLUSTER = {"insert_distributed_sync": 1}

CREATE_DATABASE = "CREATE DATABASE IF NOT EXISTS {db}"
CREATE_LOG = """
CREATE TABLE IF NOT EXISTS {db}.schema_migrations (name String, applied_at DateTime('UTC'))
ENGINE = MergeTree() ORDER BY name
"""


def added_column(statement: str) -> tuple[str, str] | None:
    """(table, column) of an ``ALTER TABLE {db}.<table> ADD COLUMN <column>``; None otherwise."""
    found = _ADD_COLUMN.match(statement)
    return None if found is None else (found.group(1), found.group(2))


def copied_from(statement: str) -> str | None:
    """The source table of a whole-table copy ``INSERT INTO {db}.<a> SELECT * FROM {db}.<b>``;
    None for any other statement."""
    found = _COPY.match(statement)
    return None if found is None else found.group(1)


def _done_already(client: Client, db: str, statement: str) -> bool:
    """Whether an interrupted run already did what ``statement`` does, where running it
    again would fail: the ``ADD COLUMN`` of a column there, the copy out of a table gone."""
    added = added_column(statement)
    if added is not None:
        table, column = added
        ((present,),) = client.execute(HAS_COLUMN, {"db": db, "table": table, "column": column})
        return bool(present)
    source = copied_from(statement)
    if source is not None:
        ((present,),) = client.execute(HAS_TABLE, {"db": db, "table": source})
        return not present
    return False


def available() -> list[str]:
    """Migration module names in order; numbers must be unique."""
    names = sorted(p.stem for p in Path(__file__).parent.glob("[0-9]*.py"))
    numbers = [_NAME.match(n).group(1) for n in names if _NAME.match(n)]  # type: ignore[union-attr]
    if len(numbers) != len(names) or len(set(numbers)) != len(numbers):
        raise RuntimeError(f"migration names must be unique NNNN_snake_case: {names}")
    return names


def operations(name: str) -> tuple[str, ...]:
    return importlib.import_module(f"{__name__}.{name}").OPERATIONS  # type: ignore[no-any-return]


def uncreated() -> list[str]:
    """The tables and views (registry order) whose CREATE statements no migration applies."""
    from sinks.migrations.statements import creates, names

    applied = {s for name in available() for s in operations(name)}
    return [name for name in names() if not set(creates(name)) <= applied]


def write_missing(directory: Path = Path(__file__).parent) -> list[Path]:
    """Write ``NNNN_<table>.py`` for each table of :func:`uncreated`, numbered after the last
    migration; return the files written."""
    last = max((int(name[:4]) for name in available()), default=0)
    written = []
    for number, name in enumerate(uncreated(), start=last + 1):
        path = directory / f"{number:04d}_{name}.py"
        path.write_text(
            f'"""Create ``{name}``, new in the contract registry."""\n\n'
            "from sinks.migrations.statements import creates\n\n"
            f'OPERATIONS: tuple[str, ...] = creates("{name}")\n',
            encoding="utf-8",
        )
        written.append(path)
    return written


def layout(settings: Settings) -> Cluster | None:
    """The cluster layout of the database, or None on one server (no ``clickhouse_cluster``)."""
    if settings.clickhouse_cluster is None:
        return None
    db = database_name(settings)
    every = [CREATE_LOG, *(s for name in available() for s in operations(name))]
    return Cluster(
        name=settings.clickhouse_cluster,
        database=db,
        sharded=merge_trees((s for t in every for s in rendered(None, db, t)), db),
        replicated=settings.clickhouse_replicated,
        zookeeper_prefix=settings.clickhouse_zookeeper_prefix,
    )


def rendered(cluster: Cluster | None, db: str, template: str) -> tuple[str, ...]:
    """What runs for the statement ``template`` (``{db}`` for the database): the statement
    itself on one server, its :meth:`Cluster.rewrite` on a cluster; a fill that names
    ``{slice}`` once per share of the subscribers (:func:`sinks.tables.sliced`)."""
    statements = [part.format(db=db) for part in sliced(template)]
    if cluster is None:
        return tuple(statements)
    return tuple(s for statement in statements for s in cluster.rewrite(statement))


def migrate(settings: Settings) -> list[str]:
    """Create the database if needed and apply pending migrations; return those applied."""
    db = database_name(settings)
    cluster = layout(settings)
    client = connect(settings, database=False)
    applied_now: list[str] = []

    def run(template: str) -> None:
        for statement in rendered(cluster, db, template):
            client.execute(statement, settings=None if cluster is None else ON_CLUSTER)

    with storage_errors(f"cannot migrate ClickHouse database {db!r}"):
        run(CREATE_DATABASE)
        run(CREATE_LOG)
        done = {n for (n,) in client.execute(f"SELECT name FROM {db}.schema_migrations")}
        for name in available():
            if name in done:
                continue
            for statement in operations(name):
                if not _done_already(client, db, statement):
                    run(statement)
            client.execute(
                f"INSERT INTO {db}.schema_migrations (name, applied_at) SELECT %(name)s, now()",
                {"name": name},
            )
            log.info("applied migration %s", name)
            applied_now.append(name)
    client.disconnect()
    return applied_now
