"""The stack owner with the real broker and ClickHouse: hooks run in order, stop is quick."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channelhub.catalogue import store
from channelhub.catalogue.seed import seed, seed_records
from channelhub.platform import broker, pids
from channelhub.platform.restarts import Backoff
from channelhub.platform.stack import Hook, Stack, plan
from kernel.settings import Settings
from tests.fixtures.services import StartService, free_port, local_settings

pytestmark = pytest.mark.integration

OWNER = textwrap.dedent(
    """
    import sys
    from channelhub.platform import broker, clickhouse, commands
    from channelhub.platform.process import ServiceSpec
    from channelhub.platform.broker import topic_names
    from channelhub.platform.stack import Hook
    from kernel.settings import Settings

    settings = Settings(_env_file=None)
    steps = [
        broker.spec(settings.kafka_bootstrap),
        clickhouse.spec(settings),
        Hook("topics", lambda: broker.ensure_topics(
            settings.kafka_bootstrap, topic_names(settings), settings.topic_partitions)),
        ServiceSpec(
            name="worker",
            argv=[sys.executable, "-c", "import time; time.sleep(120)"],
            min_uptime=0.2,
        ),
    ]
    commands.run_stack(settings, simulator=False, steps=steps)
    """
)


def test_plan_runs_migrations_and_topics_between_clickhouse_and_the_worker(
    tmp_path: Path,
) -> None:
    names = [step.name for step in plan(local_settings(state_dir=tmp_path), simulator=True)]
    assert names == [
        "broker",
        "clickhouse",
        "migrations",
        "topics",
        "catalogue",
        "content",
        "worker",
        "nudger",
        "waits",
        "campaigns",
        "dispatcher",
        "sink",
        "collector",
        "dashboard",
        "alerts",
        "simulator",
        "handsets",
    ]
    assert isinstance(plan(local_settings(), simulator=False)[2], Hook)
    without = [s.name for s in plan(local_settings(), simulator=False)]
    assert "simulator" not in without
    assert "handsets" not in without


def test_sigterm_stops_broker_clickhouse_and_services_within_10_seconds(tmp_path: Path) -> None:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CHANNELHUB_")}
    env = {
        **inherited,
        "CHANNELHUB_STATE_DIR": str(tmp_path),
        "CHANNELHUB_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "CHANNELHUB_CLICKHOUSE_PORT": str(free_port()),
        "CHANNELHUB_CLICKHOUSE_HTTP_PORT": str(free_port()),
    }
    log = (tmp_path / "owner.log").open("wb")
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "run" / "stack.json").exists():
            assert owner.poll() is None, (tmp_path / "owner.log").read_text()
            assert time.monotonic() < deadline, "the stack did not come up"
            time.sleep(0.1)
        services = [pids.read_pid_file(p) for p in (tmp_path / "run").glob("*.pid")]
        service_pids = [r.pid for r in services if r is not None and r.name != "stack"]
        assert len(service_pids) == 3

        began = time.monotonic()
        owner.send_signal(signal.SIGTERM)
        assert owner.wait(timeout=12) == 0
        assert time.monotonic() - began < 10

        assert all(pids.group_members(pid) == [] for pid in service_pids)
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["stack.lock"]
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        log.close()


def test_a_restarted_broker_gets_its_topics_and_its_catalogue_again(tmp_path: Path) -> None:
    settings = local_settings(state_dir=tmp_path, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    names = broker.topic_names(settings)
    topics, catalogue = plan(settings, simulator=False)[3:5]
    assert isinstance(topics, Hook)
    assert isinstance(catalogue, Hook)
    assert topics.rerun_after == catalogue.rerun_after == ("broker",)
    lines: list[str] = []
    stack = Stack(settings, [broker.spec(settings.kafka_bootstrap), topics, catalogue],
                  lines.append, Backoff(initial=0.1))  # fmt: skip
    try:
        stack.start()
        (tansu,) = stack.processes
        old = tansu.pid
        assert old is not None
        follower = store.follower(settings, "test-follower")
        store.request_retire(settings, "query.points", ("sms",), by="billing")
        assert len(follower.refresh().workflows) == 1

        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while not any("broker running again" in line for line in lines):
            assert time.monotonic() < deadline, lines
            stack.tick()
            time.sleep(0.05)

        assert tansu.pid != old
        # Memory storage: the new broker started empty, so these exist only if topics ran again.
        assert (
            broker.ensure_topics(settings.kafka_bootstrap, names, settings.topic_partitions) == []
        )
        # ... and the catalogue exists only if it was seeded again, once.
        written, already = seed(settings)
        assert (written, already) == (0, len(seed_records(datetime.now(UTC))))
        # A follower that had read further folds the new, shorter topic anew.
        again = follower.refresh()
        assert again.seeded
        assert again.workflows == {}
        follower.close()
    finally:
        stack.stop()


ENV_DUMP = """
import json, os, sys, time
from pathlib import Path

env = {k: v for k, v in os.environ.items() if k.startswith("CHANNELHUB_")}
Path(env["CHANNELHUB_STATE_DIR"], "env.json").write_text(json.dumps({"argv": sys.argv, **env}))
time.sleep(120)
"""


def test_start_service_runs_a_module_with_the_settings_in_its_environment(
    settings: Settings, start_service: StartService, tmp_path: Path
) -> None:
    (tmp_path / "envdump.py").write_text(ENV_DUMP)
    dumped = tmp_path / "env.json"
    process = start_service(
        "envdump",
        "envdump",
        settings,
        "--flag",
        health=dumped.exists,
        timeout=20,
        env={"PYTHONPATH": str(tmp_path)},
    )
    env = json.loads(dumped.read_text())
    assert env["argv"][1:] == ["--flag"]
    assert env["CHANNELHUB_CLICKHOUSE_DATABASE"] == settings.clickhouse_database
    assert env["CHANNELHUB_TOPIC_RAW"] == settings.topic_raw
    assert env["CHANNELHUB_COLLECTOR_TOKEN"] == settings.collector_token.get_secret_value()
    assert process.running
    assert process.log_path == tmp_path / "logs" / "envdump.log"
