"""The cluster layout on real engines, as far as this machine can run it.

The Replicated engines and ``ON CLUSTER`` need ZooKeeper or Keeper, which the tests do not
run: those statements are parsed by the current engine (chdb's ``formatQuery``) and otherwise
checked on their text only (``tests/sinks/test_cluster_layout.py``). Everything else runs on the
18.16 server: a one-shard cluster of the server itself (``remote_servers`` added to its running
config, which it reloads), the layout without replication and with ``ON CLUSTER`` left out (on
one server it does the same thing), and the same rows written into it through the Distributed
tables and into the single-server layout. Every dashboard panel, the other dashboard queries,
the uplift view, the campaign list, the audiences and the sink's id lookups then give the same
answers from both.
"""

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client

from channelhub.marketing import audience as marketing_audience
from channelhub.marketing import store, uplift
from channelhub.platform import clickhouse
from dashboards.queries.panels import panels
from kernel.settings import Settings
from schemas.campaign_spec import Audience, ChannelUse
from sinks import migrations
from sinks.client import connect
from sinks.routes import TABLES
from tests.fixtures.current_engine import CurrentEngine
from tests.fixtures.services import ClickHouseServer, local_settings
from tests.fixtures.waiting import wait_for
from tests.sinks.test_current_engine import _other_queries, _rows, _same

pytestmark = pytest.mark.integration

CLUSTER = "one_shard"


def _statements(settings: Settings) -> list[str]:
    """Every statement ``migrate`` runs on the cluster of ``settings``, in order."""
    layout = migrations.layout(settings)
    db = settings.clickhouse_database
    ops = [s for name in migrations.available() for s in migrations.operations(name)]
    templates = [migrations.CREATE_DATABASE, migrations.CREATE_LOG, *ops]
    return [s for t in templates for s in migrations.rendered(layout, db, t)]


def test_every_replicated_statement_parses_on_the_current_engine(tmp_path: Path) -> None:
    engine = CurrentEngine(tmp_path)
    settings = local_settings(clickhouse_cluster="prod", clickhouse_database="ch")
    replicated: set[str] = set()  # a table rebuilt with a new key is created twice
    for statement in _statements(settings):
        ((formatted,),) = engine.execute("SELECT formatQuery(%(q)s)", {"q": statement})
        assert statement.lstrip().startswith("INSERT") or " ON CLUSTER prod" in formatted
        if "ENGINE = Replicated" in formatted:
            replicated.add(formatted.split(" ON CLUSTER")[0].split(".")[-1].removesuffix("_local"))
    assert replicated == migrations.layout(settings).sharded  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def one_shard(clickhouse_server: ClickHouseServer) -> Iterator[str]:
    """The cluster ``one_shard`` of the test server: its only shard is the server itself."""
    config = clickhouse.home(clickhouse_server.settings) / "config.d" / f"{CLUSTER}.xml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(
        f"<yandex><remote_servers><{CLUSTER}><shard><replica><host>{clickhouse_server.host}"
        f"</host><port>{clickhouse_server.port}</port></replica></shard></{CLUSTER}>"
        "</remote_servers></yandex>",
        encoding="utf-8",
    )
    client = clickhouse.client(clickhouse_server.settings)

    def known() -> bool:
        query = "SELECT count() FROM system.clusters WHERE cluster = %(c)s"
        return bool(client.execute(query, {"c": CLUSTER})[0][0])

    wait_for(known, f"the server to load cluster {CLUSTER} from {config}", timeout=30)
    yield CLUSTER
    config.unlink()
    client.disconnect()


def _settings(server: ClickHouseServer, tmp: Path, database: str, **values: Any) -> Settings:
    return local_settings(
        environment="development",
        state_dir=tmp,
        clickhouse_host=server.host,
        clickhouse_port=server.port,
        clickhouse_http_port=server.http_port,
        clickhouse_database=database,
        **values,
    )


@pytest.fixture(scope="module")
def both(
    one_shard: str, clickhouse_server: ClickHouseServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Client, Client, datetime, Settings]]:
    """The same rows in the single-server layout and, written through its Distributed tables,
    in the cluster layout."""
    tmp = tmp_path_factory.mktemp("cluster")
    single = _settings(clickhouse_server, tmp, "test_single")
    sharded = _settings(
        clickhouse_server, tmp, "test_sharded", clickhouse_cluster=one_shard,
        clickhouse_replicated=False,
    )  # fmt: skip
    migrations.migrate(single)
    admin = clickhouse.client(clickhouse_server.settings)
    for statement in _statements(sharded):
        admin.execute(statement.replace(f" ON CLUSTER {one_shard}", ""))
    a, b = connect(single), connect(sharded)
    now = datetime.now(UTC).replace(microsecond=0)
    for table, rows in _rows(single, now):
        for client, db in ((a, "test_single"), (b, "test_sharded")):
            client.execute(TABLES[table].insert.format(db=db), rows)
    yield a, b, now, sharded
    for db in ("test_single", "test_sharded"):
        admin.execute(f"DROP DATABASE IF EXISTS {db}")
    for client in (a, b, admin):
        client.disconnect()


def test_the_tables_are_local_tables_behind_distributed_ones(
    both: tuple[Client, Client, datetime, Settings],
) -> None:
    _, sharded, _, _ = both
    query = "SELECT name, engine FROM system.tables WHERE database = currentDatabase()"
    engines = dict(sharded.execute(query))
    for name in [*TABLES, "events_per_minute", "schema_migrations"]:
        assert engines[name] == "Distributed", name
        assert engines[f"{name}_local"].endswith("MergeTree"), name
    # The view aggregated each shard's rows into the shard's own table.
    ((local,),) = sharded.execute("SELECT sum(events) FROM events_per_minute_local")
    ((events,),) = sharded.execute("SELECT count() FROM events_local")
    assert local == events > 0


def test_every_panel_answers_the_same_on_the_cluster(
    both: tuple[Client, Client, datetime, Settings],
) -> None:
    single, sharded, now, settings = both
    answered = 0
    for name, panel in panels(settings.topic_partitions, now).items():
        expected = panel(single)
        assert _same(panel(sharded)) == _same(expected), name
        answered += bool(_same(expected))
    assert answered >= len(panels(settings.topic_partitions, now)) - 2


def test_the_other_queries_answer_the_same_on_the_cluster(
    both: tuple[Client, Client, datetime, Settings],
) -> None:
    single, sharded, now, _ = both
    for name, query in _other_queries(now).items():
        assert _same(query(sharded, "test_sharded")) == _same(query(single, "test_single")), name
    expected = uplift.uplift(single, "test_single")
    assert expected
    assert _same(uplift.uplift(sharded, "test_sharded")) == _same(expected)
    campaigns = store.list_campaigns(single, "test_single")
    assert _same(store.list_campaigns(sharded, "test_sharded")) == _same(campaigns)
    for audience in (Audience(), Audience(used=(ChannelUse(channels=("sms",), within_days=7),))):
        members = list(marketing_audience.members(single, "test_single", audience, now))
        assert members
        assert list(marketing_audience.members(sharded, "test_sharded", audience, now)) == members


def test_the_sinks_id_lookups_answer_the_same_on_the_cluster(
    both: tuple[Client, Client, datetime, Settings],
) -> None:
    single, sharded, _, _ = both
    for table in TABLES.values():
        recent = {"partitions": (0, 1, 2, 3), "since": 0, "limit": 1_000_000}
        answers = [
            sorted(c.execute(table.recent_ids.format(db=db), recent))
            for c, db in ((single, "test_single"), (sharded, "test_sharded"))
        ]
        assert answers[0] == answers[1], table.name
        ids = [i for i, _ in answers[0][:50]] + ["not-written"]
        rows = [{"id": i} for i in ids]
        external = [{"name": "ids", "structure": [("id", "String")], "data": rows}]
        present = [
            sorted(
                c.execute(
                    table.present_ids.format(db=db),
                    {"low": 0, "high": 4_000_000_000},
                    external_tables=external,
                )
            )
            for c, db in ((single, "test_single"), (sharded, "test_sharded"))
        ]
        assert present[0] == present[1] == sorted((i,) for i in ids[:-1]), table.name


def test_a_column_added_by_an_alter_is_read_and_written_through_the_distributed_table(
    both: tuple[Client, Client, datetime, Settings],
) -> None:
    _, sharded, _, settings = both
    layout = migrations.layout(settings)
    assert layout is not None
    alter = "ALTER TABLE test_sharded.opt_outs ADD COLUMN note String DEFAULT 'none'"
    for statement in layout.rewrite(alter):
        sharded.execute(re.sub(rf" ON CLUSTER {CLUSTER}\b", "", statement))
    sharded.execute(
        "INSERT INTO opt_outs (opt_out_id, subscriber, scope, event_id, at, kafka_partition, "
        "kafka_offset, ingested_at, note) VALUES",
        [("o-1", "k1.ab", "*", "e-1", datetime.now(UTC), 0, 0, datetime.now(UTC), "noted")],
    )
    notes = sharded.execute("SELECT note, count() FROM opt_outs GROUP BY note ORDER BY note")
    assert notes[0][0] == "none"
    assert notes[-1] == ("noted", 1)
