"""The whole platform through the CLI, as a user runs it: up, status, data flowing, down."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from channelhub.platform.env import settings_env
from kernel.settings import Settings
from sinks.client import connect
from tests.fixtures.cli import run_cli
from tests.fixtures.services import free_port, local_settings

pytestmark = pytest.mark.integration


def _own_ports(tmp_path: Path) -> Settings:
    return local_settings(
        state_dir=tmp_path / "state",
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        clickhouse_port=free_port(),
        clickhouse_http_port=free_port(),
        worker_web_port=free_port(),
        nudger_web_port=free_port(),
        dispatcher_web_port=free_port(),
        campaigns_web_port=free_port(),
        waits_web_port=free_port(),
        collector_port=free_port(),
        dashboard_port=free_port(),
    )


def _cli(settings: Settings, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return run_cli(settings, *args, timeout=timeout)


def _service(settings: Settings, name: str) -> dict[str, Any]:
    status = json.loads(_cli(settings, "status", "--json").stdout)
    return next(s for s in status["services"] if s["name"] == name)  # type: ignore[no-any-return]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_detached_serves_data_and_down_leaves_no_process(tmp_path: Path) -> None:
    settings = _own_ports(tmp_path)
    started = _cli(settings, "up", "--detach")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert settings.dashboard_url in started.stdout

        status = json.loads(_cli(settings, "status", "--json").stdout)
        services = {s["name"]: s for s in status["services"]}
        assert set(services) == {
            "broker", "clickhouse", "worker", "nudger", "waits", "dispatcher", "campaigns", "sink",
            "collector", "dashboard", "alerts", "simulator", "handsets",
        }  # fmt: skip
        assert all(s["state"] == "running" for s in services.values()), services
        assert services["broker"]["endpoint"] == settings.kafka_bootstrap
        assert services["collector"]["endpoint"] == settings.collector_url
        assert services["dashboard"]["endpoint"] == settings.dashboard_url
        assert status["endpoints"]["clickhouse_native"] == f"127.0.0.1:{settings.clickhouse_port}"

        with urllib.request.urlopen(settings.dashboard_url, timeout=10) as page:
            assert page.status == 200
        # up seeded the service catalogue the stages, the simulator and the dashboard follow.
        catalogue = json.loads(_cli(settings, "service", "list", "--json").stdout)
        assert "0101" in catalogue["channels"]["sms"]
        # ... and published the shipped texts, so the nudge stage sends only published ones.
        content = json.loads(_cli(settings, "content", "list", "--json").stdout)
        published = {c["item"]: c["published_version"] for c in content}
        assert published["rule:ivr.long_agent_wait"] == 1
        client = connect(settings)
        deadline = time.monotonic() + 120
        while (n := client.execute("SELECT count() FROM events")[0][0]) < 1000:
            assert time.monotonic() < deadline, f"only {n} simulated events reached ClickHouse"
            time.sleep(1)
        client.disconnect()

        # A service that dies is started again; the others keep running, status says so.
        os.kill(services["sink"]["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while (sink := _service(settings, "sink"))["state"] != "running" or sink["restarts"] != 1:
            assert time.monotonic() < deadline, f"the sink was not restarted: {sink}"
            time.sleep(0.5)
        assert sink["last_exit"] == "killed by signal SIGKILL"
        assert sink["pid"] != services["sink"]["pid"]
        assert _service(settings, "worker")["pid"] == services["worker"]["pid"]
        services["sink"] = sink  # the pid down must stop
    finally:
        stopped = _cli(settings, "down")
    assert stopped.returncode == 0, stopped.stderr
    pids = [s["pid"] for s in services.values() if s["pid"]]
    assert pids
    assert not [pid for pid in pids if _alive(pid)]
    assert json.loads(_cli(settings, "status", "--json").stdout)["running"] is False


def test_ctrl_c_stops_a_foreground_stack_within_10_seconds(tmp_path: Path) -> None:
    settings = _own_ports(tmp_path)
    up = subprocess.Popen(
        [sys.executable, "-m", "channelhub.cli", "up", "--no-simulator"],
        env={**os.environ, **settings_env(settings)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    pids: list[int] = []
    try:
        assert up.stdout is not None
        for line in up.stdout:
            if "press Ctrl-C to stop" in line:
                break
        else:
            pytest.fail(f"up exited with {up.wait()} before it was ready")
        status = json.loads(_cli(settings, "status", "--json").stdout)
        pids = [s["pid"] for s in status["services"] if s["pid"]]
        assert len(pids) == 11  # every service but the simulator and its handsets
        began = time.monotonic()
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=15) == 0
        assert time.monotonic() - began < 10
        assert not [pid for pid in pids if _alive(pid)]
    finally:
        # A failed assertion must not leave the stack behind: its services run in their own
        # sessions, so stop up as a user would, then any service still alive, by PID.
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
