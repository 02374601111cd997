"""The cluster layout of the migrations, on the statements' text: every statement of every
migration renders, each MergeTree table becomes a Replicated local table with its engine's own
arguments behind a Distributed table, materialized views read and write local tables, and
without a cluster ``migrate`` runs the statements exactly as written.

The layout runs on a real server in ``tests/sinks/test_cluster_clickhouse.py``, except the
Replicated engines and ``ON CLUSTER``, which need ZooKeeper or Keeper.
"""

import re
from typing import Any

import pydantic
import pytest

from kernel.settings import Settings
from sinks import migrations
from sinks.migrations.cluster import Cluster, merge_trees, parse_table

DB = "ch"


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, clickhouse_database=DB, **values)  # type: ignore[call-arg]


def _templates() -> list[str]:
    """Every statement ``migrate`` applies, in order, with ``{db}`` for the database."""
    ops = [s for name in migrations.available() for s in migrations.operations(name)]
    return [migrations.CREATE_DATABASE, migrations.CREATE_LOG, *ops]


def _rendered() -> list[str]:
    """Every statement ``migrate`` runs on one server, for the database ``DB``."""
    return [s for t in _templates() for s in migrations.rendered(None, DB, t)]


def _cluster(**values: Any) -> Cluster:
    layout = migrations.layout(_settings(clickhouse_cluster="prod", **values))
    assert layout is not None
    return layout


class _Recording:
    """A client that records what it is asked to run; no migration is applied yet."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.settings: list[Any] = []

    def execute(self, sql: str, params: Any = None, settings: Any = None) -> list[Any]:
        self.settings.append(settings)
        if sql == migrations.HAS_COLUMN:  # an ADD COLUMN's check: the column is not there
            self.ran.append(f"{sql} -- {params['table']}.{params['column']}")
            return [(0,)]
        if sql == migrations.HAS_TABLE:  # a whole-table copy's check: the source is there
            self.ran.append(f"{sql} -- {params['table']}")
            return [(1,)]
        self.ran.append(sql if params is None else f"{sql} -- {params['name']}")
        return []

    def disconnect(self) -> None:
        pass


def _recorded(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> _Recording:
    client = _Recording()
    monkeypatch.setattr(migrations, "connect", lambda *_, **__: client)
    assert migrations.migrate(settings) == migrations.available()
    return client


def _migrate(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> list[str]:
    return _recorded(monkeypatch, settings).ran


def test_on_a_cluster_a_copy_reaches_the_shards_before_the_next_statement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rebuild drops what it copied out of: the copy must not be left queued."""
    clustered = _recorded(monkeypatch, _settings(clickhouse_cluster="prod"))
    copies = [
        settings
        for sql, settings in zip(clustered.ran, clustered.settings, strict=True)
        if sql.startswith(f"INSERT INTO {DB}.nudge_decisions") and "SELECT * FROM" in sql
    ]
    assert copies == [migrations.ON_CLUSTER] * 2
    single = _recorded(monkeypatch, _settings())
    assert all(settings is None for settings in single.settings)


def _log(name: str) -> str:
    return f"INSERT INTO {DB}.schema_migrations (name, applied_at) SELECT %(name)s, now() -- {name}"


def test_without_a_cluster_migrate_runs_the_statements_exactly_as_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = [
        f"CREATE DATABASE IF NOT EXISTS {DB}",
        migrations.CREATE_LOG.format(db=DB),
        f"SELECT name FROM {DB}.schema_migrations",
    ]
    for name in migrations.available():
        for t in migrations.operations(name):
            added = migrations.added_column(t)
            if added is not None:
                expected.append(f"{migrations.HAS_COLUMN} -- {added[0]}.{added[1]}")
            source = migrations.copied_from(t)
            if source is not None:
                expected.append(f"{migrations.HAS_TABLE} -- {source}")
            expected += migrations.rendered(None, DB, t)
        expected.append(_log(name))
    assert migrations.layout(_settings()) is None
    assert _migrate(monkeypatch, _settings()) == expected


def test_on_a_cluster_migrate_runs_every_ddl_on_it_and_keeps_one_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran = _migrate(monkeypatch, _settings(clickhouse_cluster="prod"))
    ddl = [s for s in ran if not s.lstrip().startswith(("SELECT", "INSERT"))]
    assert ddl
    assert all(" ON CLUSTER prod" in s for s in ddl)
    # The log is read and written through its Distributed table: one log for the cluster.
    assert ran[1].split("(")[0].strip().endswith(f"{DB}.schema_migrations_local ON CLUSTER prod")
    assert f"Distributed(prod, {DB}, schema_migrations_local, cityHash64(name))" in ran[2]
    assert ran[3] == f"SELECT name FROM {DB}.schema_migrations"
    logged = [s for s in ran if s.startswith(f"INSERT INTO {DB}.schema_migrations ")]
    assert logged == [_log(n) for n in migrations.available()]


def test_every_merge_tree_table_becomes_a_replicated_local_table_behind_a_distributed_one() -> None:
    cluster = _cluster()
    sharded: set[str] = set()  # a table rebuilt with a new key is created twice
    for statement in _rendered():
        table = parse_table(statement, DB)
        if table is None or not table.engine.endswith("MergeTree"):
            continue
        rendered = [s.replace(" ON CLUSTER prod", "") for s in cluster.rewrite(statement)]
        local, distributed = (parse_table(s, DB) for s in rendered)
        assert local is not None
        assert distributed is not None
        path = f"'/clickhouse/tables/{{shard}}/{DB}/{table.name}_local', '{{replica}}'"
        own = f", {table.arguments}" if table.arguments else ""
        assert (local.name, local.engine, local.arguments) == (
            f"{table.name}_local",
            f"Replicated{table.engine}",
            path + own,
        )
        assert (local.columns, local.tail) == (table.columns, table.tail)
        assert distributed.name == table.name
        assert distributed.columns == table.columns
        assert (distributed.engine, distributed.tail) == ("Distributed", "")
        assert distributed.arguments == (f"prod, {DB}, {table.name}_local, {table.sharding_key}")
        sharded.add(table.name)
    assert sharded == cluster.sharded
    assert {"events", "events_per_minute", "schema_migrations"} <= cluster.sharded


def test_every_statement_of_every_migration_renders_on_the_cluster() -> None:
    cluster = _cluster()
    for statement in _rendered():
        rendered = cluster.rewrite(statement)
        if statement.lstrip().startswith("INSERT"):
            # A fill runs once, through the Distributed tables, which send each row to its shard.
            assert rendered == (statement,)
            continue
        assert rendered, statement
        assert all(" ON CLUSTER prod" in s for s in rendered), statement
        # Nothing the cluster runs is left with a template's placeholder.
        assert not any("{db}" in s or "{slice}" in s for s in rendered)


def test_materialized_views_read_and_write_shard_local_tables() -> None:
    cluster = _cluster()
    views = [t.format(db=DB) for t in _templates() if "MATERIALIZED VIEW" in t]
    assert views
    for view in views:
        (rendered,) = cluster.rewrite(view)
        named = set(re.findall(rf"\b{DB}\.(\w+)", rendered))
        assert named & cluster.sharded == set(), rendered
    (per_minute,) = cluster.rewrite(next(v for v in views if "events_per_minute_mv" in v))
    assert f"TO {DB}.events_per_minute_local AS" in per_minute
    assert f"FROM {DB}.events_local\n" in per_minute


def test_plain_views_read_the_distributed_tables() -> None:
    cluster = _cluster()
    views = [t.format(db=DB) for t in _templates() if re.search(r"CREATE VIEW", t)]
    assert len(views) >= 3
    for view in views:
        (rendered,) = cluster.rewrite(view)
        name = re.search(rf"{DB}\.\w+", view)[0]  # type: ignore[index]
        assert rendered == view.replace(name, f"{name} ON CLUSTER prod", 1)


def test_sharding_keeps_a_subscriber_on_one_shard_and_other_rows_by_their_sort_key() -> None:
    keys = {
        t.name: t.sharding_key
        for t in (
            parse_table(s, DB) for t in _templates() for s in migrations.rendered(None, DB, t)
        )
        if t is not None
    }
    assert keys["events"] == "cityHash64(subscriber)"
    assert keys["opt_outs"] == "cityHash64(subscriber)"
    assert keys["nudge_receipts"] == "cityHash64(message_id, status)"
    assert keys["dead_letters"] == "cityHash64(dead_letter_id)"
    assert keys["schema_migrations"] == "cityHash64(name)"


def test_an_engine_keeps_its_own_arguments_and_without_replication_its_own_name() -> None:
    create = (
        f"CREATE TABLE IF NOT EXISTS {DB}.versions (id String, v UInt32) "
        "ENGINE = ReplacingMergeTree(v) ORDER BY tuple()"
    )
    sharded = frozenset({"versions"})
    local, distributed = Cluster("c", DB, sharded, zookeeper_prefix="/ch/t").rewrite(create)
    engine = "ReplicatedReplacingMergeTree('/ch/t/{shard}/ch/versions_local', '{replica}', v)"
    assert local.endswith(f"ENGINE = {engine} ORDER BY tuple()")
    assert distributed.endswith(f"ENGINE = Distributed(c, {DB}, versions_local, rand())")
    plain, _ = Cluster("c", DB, sharded, replicated=False).rewrite(create)
    assert plain == create.replace("versions (", "versions_local ON CLUSTER c (")


def test_a_table_of_another_engine_only_runs_on_the_cluster() -> None:
    create = f"CREATE TABLE {DB}.scratch (id String) ENGINE = Memory()"
    assert merge_trees([create], DB) == frozenset()
    (rendered,) = Cluster("c", DB, frozenset()).rewrite(create)
    assert rendered == f"CREATE TABLE {DB}.scratch ON CLUSTER c (id String) ENGINE = Memory()"


def test_alters_change_the_local_tables_and_the_distributed_table_keeps_their_columns() -> None:
    cluster = _cluster()
    add = f"ALTER TABLE {DB}.events ADD COLUMN note String DEFAULT ''"
    assert cluster.rewrite(add) == (
        f"ALTER TABLE {DB}.events_local ON CLUSTER prod ADD COLUMN note String DEFAULT ''",
        f"ALTER TABLE {DB}.events ON CLUSTER prod ADD COLUMN note String DEFAULT ''",
    )
    drop = f"ALTER TABLE {DB}.events DROP COLUMN note"
    assert cluster.rewrite(drop) == (
        f"ALTER TABLE {DB}.events ON CLUSTER prod DROP COLUMN note",
        f"ALTER TABLE {DB}.events_local ON CLUSTER prod DROP COLUMN note",
    )
    mutation = f"ALTER TABLE {DB}.opt_outs DELETE WHERE scope = ''"
    assert cluster.rewrite(mutation) == (
        f"ALTER TABLE {DB}.opt_outs_local ON CLUSTER prod DELETE WHERE scope = ''",
    )
    view = f"ALTER TABLE {DB}.events_per_minute_mv MODIFY QUERY SELECT 1"
    assert cluster.rewrite(view) == (
        f"ALTER TABLE {DB}.events_per_minute_mv ON CLUSTER prod MODIFY QUERY SELECT 1",
    )


def test_drops_drop_both_tables_and_inserts_go_through_the_distributed_table() -> None:
    cluster = _cluster()
    assert cluster.rewrite(f"DROP TABLE IF EXISTS {DB}.events") == (
        f"DROP TABLE IF EXISTS {DB}.events ON CLUSTER prod",
        f"DROP TABLE IF EXISTS {DB}.events_local ON CLUSTER prod",
    )
    backfill = f"INSERT INTO {DB}.events_per_minute SELECT * FROM {DB}.events_per_minute"
    assert cluster.rewrite(backfill) == (backfill,)


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        (f"RENAME TABLE {DB}.events TO {DB}.old_events", "no cluster layout is known"),
        (
            f"CREATE MATERIALIZED VIEW {DB}.mv ENGINE = MergeTree() ORDER BY x AS SELECT 1 AS x",
            "must write TO a table",
        ),
    ],
)
def test_a_statement_without_a_known_layout_is_refused(statement: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        _cluster().rewrite(statement)


def test_a_migration_may_not_create_a_replicated_engine_itself() -> None:
    create = f"CREATE TABLE {DB}.t (a String) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY a"
    with pytest.raises(ValueError, match="migrations create plain engines"):
        merge_trees([create], DB)


@pytest.mark.parametrize(
    "values",
    [{"clickhouse_cluster": "prod'; DROP"}, {"clickhouse_zookeeper_prefix": "/a/b'"}],
)
def test_names_spliced_into_ddl_must_be_plain(values: dict[str, str]) -> None:
    with pytest.raises(pydantic.ValidationError):
        _settings(**values)
