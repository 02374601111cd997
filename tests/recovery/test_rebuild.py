"""``channelhub rebuild`` on the real services: the same counts after the swap, and a live
pipeline that keeps counting into the rebuilt tables."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_driver import Client

from channelhub.platform.env import settings_env
from channelhub.platform.health import tcp_open
from channelhub.recovery.rebuild import PER_MINUTE
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect
from sinks.routes import routes
from sinks.tables import events
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_for, wait_until_drained

pytestmark = pytest.mark.integration


def _run(settings: Settings, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _simulate(settings: Settings, events_n: int, seed: int) -> int:
    """Produce ``events_n`` simulated events; return how many are valid."""
    result = _run(
        settings, "channelhub.simulator", "--events", str(events_n), "--seed", str(seed),
        "--bad-fraction", "0.05",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return sum(json.loads(result.stdout.strip().splitlines()[-1])["valid"].values())


def _counts(client: Client, settings: Settings, db: str) -> dict[str, int]:
    counts = {}
    for table in routes(settings).values():
        ((n,),) = client.execute(f"SELECT uniqExact({table.id_column}) FROM {db}.{table.name}")
        counts[table.name] = n
    ((per_minute,),) = client.execute(f"SELECT sum(events) FROM {db}.{PER_MINUTE}")
    counts[PER_MINUTE] = per_minute or 0
    return counts


def _databases(client: Client, db: str) -> list[str]:
    rows = client.execute(
        "SELECT name FROM system.databases WHERE startsWith(name, %(prefix)s)", {"prefix": f"{db}_"}
    )
    return sorted(name for (name,) in rows)


@pytest.fixture
def client(settings: Settings, clickhouse_db: str) -> Iterator[Client]:
    """A client on the test database; drops what the rebuilds leave behind afterwards."""
    client = connect(settings)
    yield client
    for name in _databases(client, clickhouse_db):
        client.execute(f"DROP DATABASE IF EXISTS {name}")
    client.disconnect()


def test_rebuild_swaps_in_tables_with_the_same_counts_and_keeps_counting(
    settings: Settings, topics: Topics, client: Client, start_service: StartService
) -> None:
    db = settings.clickhouse_database
    migrations.migrate(settings)
    start_service(
        "worker", "streams", settings,
        health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120,
    )  # fmt: skip
    start_service("sink", "sinks", settings)
    prefix = settings.group_prefix
    drained = [
        (f"{prefix}-validate", [settings.topic_raw]),
        (f"{prefix}-nudges", [settings.topic_events]),
        (f"{prefix}-sink", list(routes(settings))),
    ]
    valid = _simulate(settings, 4000, seed=5)
    wait_until_drained(settings.kafka_bootstrap, drained)
    before = _counts(client, settings, db)
    assert before["events"] == before[PER_MINUTE] == valid
    assert before["dead_letters"] > 0
    assert before["nudge_decisions"] > 0

    result = _run(settings, "channelhub.cli", "rebuild", "--settle", "60")
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    kept = summary["kept_in"]
    assert kept in result.stderr
    assert "replayed" in result.stderr
    for name, n in before.items():
        table = summary["tables"][name]
        assert (table["before"], table["rebuilt"], table["after"]) == (n, n, n), name
        assert table.get("lost", 0) == table.get("caught_up", 0) == 0
    assert _counts(client, settings, db) == before
    assert _counts(client, settings, kept) == before
    assert _databases(client, db) == [kept]  # the rebuild database is gone
    ((final,),) = client.execute(f"SELECT count() FROM {db}.events FINAL")
    assert final == valid

    more = _simulate(settings, 1000, seed=8)
    wait_until_drained(settings.kafka_bootstrap, drained)
    after = _counts(client, settings, db)
    assert after["events"] == after[PER_MINUTE] == valid + more  # the view feeds the new tables
    assert _counts(client, settings, kept) == before  # and nothing reaches the old ones

    # A row the topics never held (as after the local broker restarted): refused, unchanged.
    stale = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    client.execute(
        events.TABLE.insert.format(db=db),
        [("0190a0b4-3c1e-7000-8000-00000000beef", "ivr.abandoned", "ivr", stale, 0, "x", "s",
          "changsha", "gotone", '{"wait_s":1.0}', 1, 0, 0, stale)],
    )  # fmt: skip
    refused = _run(settings, "channelhub.cli", "rebuild", "--settle", "60")
    assert refused.returncode == 1
    assert "no longer hold rows the live tables have" in refused.stderr.splitlines()[-1]
    assert "'events': 1" in refused.stderr
    assert _databases(client, db) == [kept]
    assert _counts(client, settings, db)["events"] == valid + more + 1


def test_rebuild_while_events_flow_loses_and_duplicates_nothing(
    settings: Settings, topics: Topics, client: Client, start_service: StartService
) -> None:
    db = settings.clickhouse_database
    migrations.migrate(settings)
    start_service(
        "validate", "streams", settings, "--stage", "validate",
        health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120,
    )  # fmt: skip
    start_service("sink", "sinks", settings)
    simulator = subprocess.Popen(
        [sys.executable, "-m", "channelhub.simulator", "--events", "12000", "--seed", "13",
         "--bad-fraction", "0.05", "--rate", "400"],
        env={**os.environ, **settings_env(settings)},
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    wait_for(lambda: _counts(client, settings, db)["events"] > 1000, "the first events stored")

    result = _run(settings, "channelhub.cli", "rebuild", "--settle", "60")
    assert result.returncode == 0, result.stderr
    assert simulator.poll() is None, "the simulator was done before the rebuild: no traffic"
    out, _ = simulator.communicate(timeout=120)
    assert simulator.returncode == 0
    produced = json.loads(out.strip().splitlines()[-1])
    valid = sum(produced["valid"].values())
    wait_until_drained(
        settings.kafka_bootstrap,
        [(f"{settings.group_prefix}-validate", [settings.topic_raw]),
         (f"{settings.group_prefix}-sink", list(routes(settings)))],
    )  # fmt: skip
    ((rows, ids),) = client.execute(f"SELECT count(), uniqExact(event_id) FROM {db}.events")
    assert rows == ids == valid
    after = _counts(client, settings, db)
    assert after[PER_MINUTE] == valid
    assert after["dead_letters"] == produced["invalid"]
