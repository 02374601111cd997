"""End to end on the real services: simulator → broker → worker → sink → ClickHouse.

ClickHouse must hold exactly the valid events the simulator reports (per channel and per event
type, each once) and the dead-letter table exactly the invalid ones — also when the worker and
the sink are killed with SIGKILL half-way and restarted.
"""

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from clickhouse_driver import Client

from channelhub.platform.env import settings_env
from channelhub.platform.health import tcp_open
from channelhub.platform.process import ManagedProcess
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect
from tests.fixtures.services import StartService, Topics, sigkill_and_restart
from tests.fixtures.waiting import wait_for, wait_until_settled

pytestmark = pytest.mark.integration


def _simulate(settings: Settings, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "channelhub.simulator", *args],
        env={**os.environ, **settings_env(settings)},
        stdout=subprocess.PIPE,
        text=True,
    )


def _summary(simulator: subprocess.Popen[str], timeout: float = 300) -> dict[str, Any]:
    out, _ = simulator.communicate(timeout=timeout)
    assert simulator.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _stored(client: Client) -> dict[str, Any]:
    by_type = dict(client.execute("SELECT event_type, count() FROM events GROUP BY event_type"))
    by_channel = dict(client.execute("SELECT channel, count() FROM events GROUP BY channel"))
    ((rows, ids),) = client.execute("SELECT count(), uniqExact(event_id) FROM events")
    ((final,),) = client.execute("SELECT count() FROM events FINAL")
    ((per_minute,),) = client.execute("SELECT sum(events) FROM events_per_minute")
    ((letters, letter_ids),) = client.execute(
        "SELECT count(), uniqExact(dead_letter_id) FROM dead_letters"
    )
    return {
        "by_type": by_type, "by_channel": by_channel, "rows": rows, "ids": ids,
        "final": final, "per_minute": per_minute or 0, "letters": letters,
        "letter_ids": letter_ids,
    }  # fmt: skip


def _assert_exact(settings: Settings, summary: dict[str, Any], timeout: float = 120) -> None:
    valid = sum(summary["valid"].values())
    wait_until_settled(settings, timeout=timeout)
    client = connect(settings)
    stored = _stored(client)
    assert stored["rows"] == stored["ids"] == stored["final"] == valid
    assert stored["per_minute"] == valid
    assert stored["by_channel"] == {c: n for c, n in summary["valid"].items() if n}
    assert stored["by_type"] == {t: n for t, n in summary["valid_by_event_type"].items() if n}
    assert stored["letters"] == stored["letter_ids"] == summary["invalid"]


def _start_pipeline(
    settings: Settings, start_service: StartService
) -> tuple[ManagedProcess, ManagedProcess]:
    migrations.migrate(settings)
    worker = start_service(
        "worker", "streams", settings,
        health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120,
    )  # fmt: skip
    sink = start_service("sink", "sinks", settings)
    return worker, sink


def test_valid_events_land_exactly_once_and_invalid_ones_in_the_dead_letters(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    _start_pipeline(settings, start_service)
    summary = _summary(
        _simulate(settings, "--events", "20000", "--seed", "7", "--bad-fraction", "0.05")
    )
    assert summary["invalid"] > 0
    assert all(summary["valid"][c] > 0 for c in ("ivr", "sms", "web", "wap", "kiosk", "agent"))
    _assert_exact(settings, summary)


def test_sigkill_of_worker_and_sink_mid_run_loses_and_duplicates_nothing(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    worker, sink = _start_pipeline(settings, start_service)
    client = connect(settings)
    simulator = _simulate(
        settings, "--events", "40000", "--seed", "11", "--bad-fraction", "0.03",
        "--rate", "2500",
    )  # fmt: skip
    wait_for(lambda: _stored(client)["rows"] > 5000, "the first events in ClickHouse", 120)
    sigkill_and_restart(worker)
    wait_for(lambda: _stored(client)["rows"] > 15000, "events after the worker restart", 120)
    sigkill_and_restart(sink)
    summary = _summary(simulator)
    _assert_exact(settings, summary, timeout=180)
