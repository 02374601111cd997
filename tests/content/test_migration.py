"""Migration 0015 on the real ClickHouse: ``nudge_requests`` gains ``template_version`` after
``text``, and the migrations, run again from the start as after an interruption, still apply
(18.16 has no ``ADD COLUMN IF NOT EXISTS``: the runner checks the column itself)."""

import pytest

from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect

pytestmark = pytest.mark.integration


def test_the_column_is_added_once_even_when_the_migrations_run_again(
    settings: Settings, clickhouse_db: str
) -> None:
    migrations.migrate(settings)
    client = connect(settings)
    try:
        client.execute(f"TRUNCATE TABLE {clickhouse_db}.schema_migrations")
        assert migrations.migrate(settings) == migrations.available()
        columns = [
            name
            for (name,) in client.execute(
                "SELECT name FROM system.columns WHERE database = %(db)s "
                "AND table = 'nudge_requests'",
                {"db": clickhouse_db},
            )
        ]
    finally:
        client.disconnect()
    assert columns[columns.index("text") + 1] == "template_version"
