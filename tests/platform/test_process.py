"""ManagedProcess and the stack owner with tiny dummy Python processes: fast, no servers."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from channelhub.platform import commands, pids, settings_env
from channelhub.platform.health import http_ok
from channelhub.platform.process import ManagedProcess, ServiceSpec
from kernel.errors import ServiceError
from tests.fixtures.services import free_port, local_settings

SLEEPER = "import time; print('dummy up', flush=True); time.sleep(120)"
# A parent that also spawns a grandchild: stopping must take the whole group.
FAMILY = (
    "import subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
    "print('child', child.pid, flush=True); time.sleep(120)"
)
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ignoring SIGTERM', flush=True); time.sleep(120)"
)


def python(name: str, code: str, **kwargs: object) -> ServiceSpec:
    return ServiceSpec(name=name, argv=[sys.executable, "-c", code], **kwargs)  # type: ignore[arg-type]


def test_start_writes_pid_file_and_log_and_stop_leaves_no_process(tmp_path: Path) -> None:
    process = ManagedProcess(python("dummy", FAMILY, min_uptime=0.3), tmp_path)
    process.start()
    process.wait_healthy()
    assert process.pid is not None
    record = pids.read_pid_file(tmp_path / "run" / "dummy.pid")
    assert record is not None
    assert record.pid == process.pid
    assert record.alive()
    deadline = time.monotonic() + 10
    while len(pids.group_members(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(pids.group_members(process.pid)) == 2, "the grandchild shares the group"

    process.stop()

    assert pids.group_members(process.pid) == []
    assert not (tmp_path / "run" / "dummy.pid").exists()
    assert "child" in (tmp_path / "logs" / "dummy.log").read_text()


def test_stop_kills_a_process_that_ignores_sigterm_after_the_grace_period(
    tmp_path: Path,
) -> None:
    process = ManagedProcess(python("stubborn", STUBBORN), tmp_path)
    process.start()
    process.wait_healthy()
    deadline = time.monotonic() + 10
    # The log's first line echoes the argv: wait for the line the program itself prints.
    while "ignoring SIGTERM" not in process.log_path.read_text().splitlines()[1:]:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    began = time.monotonic()
    process.stop(grace=0.5)

    assert time.monotonic() - began < 3
    assert process.exit_code == -signal.SIGKILL
    assert pids.group_members(process.pid or 0) == []


def test_health_timeout_names_the_service_and_shows_its_log(tmp_path: Path) -> None:
    def never() -> None:
        raise ConnectionRefusedError("nothing listens")

    process = ManagedProcess(python("slowpoke", SLEEPER, health=never, startup_timeout=1), tmp_path)
    process.start()
    try:
        with pytest.raises(ServiceError) as caught:
            process.wait_healthy()
    finally:
        process.stop()
    message = str(caught.value)
    assert message.startswith("slowpoke did not become healthy within 1s")
    assert "ConnectionRefusedError: nothing listens" in message
    assert str(tmp_path / "logs" / "slowpoke.log") in message
    assert "dummy up" in message


def test_early_exit_is_reported_with_exit_code_and_log_tail(tmp_path: Path) -> None:
    code = "import sys; print('boom: bad config', flush=True); sys.exit(3)"
    process = ManagedProcess(python("crasher", code, min_uptime=5), tmp_path)
    process.start()
    with pytest.raises(ServiceError, match="crasher exited with code 3") as caught:
        process.wait_healthy()
    assert "boom: bad config" in str(caught.value)


def test_http_health_probe_waits_for_a_real_server(tmp_path: Path) -> None:
    port = free_port()
    spec = ServiceSpec(
        name="web",
        argv=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        health=http_ok(f"http://127.0.0.1:{port}/"),
        cwd=tmp_path,
    )
    with ManagedProcess(spec, tmp_path) as process:
        assert process.running
    assert not process.running


def test_a_pid_file_for_a_reused_pid_is_not_alive() -> None:
    start_time = pids.proc_start_time(os.getpid())
    assert start_time is not None
    assert pids.PidRecord("me", os.getpid(), start_time).alive()
    assert not pids.PidRecord("me", os.getpid(), start_time - 1).alive()


def test_settings_env_round_trips_every_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    original = local_settings(
        state_dir=tmp_path,
        collector_token=SecretStr("s3cret with spaces"),
        clickhouse_password=SecretStr("pä$$"),
        topic_partitions=7,
    )
    env = settings_env(original)
    assert env["CHANNELHUB_COLLECTOR_TOKEN"] == "s3cret with spaces"
    assert env["CHANNELHUB_STATE_DIR"] == str(tmp_path.resolve())
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert local_settings() == original


# -- the stack owner (commands.run_stack / down / status) with a dummy service ---------------

OWNER = textwrap.dedent(
    """
    import sys
    from channelhub.platform import commands
    from channelhub.platform.process import ServiceSpec
    from kernel.settings import Settings

    settings = Settings(_env_file=None, state_dir=sys.argv[1])
    dummy = ServiceSpec(
        name="collector",
        argv=[sys.executable, "-c", {sleeper!r}],
        endpoint=settings.collector_url,
        min_uptime=0.2,
    )
    commands.run_stack(settings, simulator=False, steps=[dummy])
    """
).format(sleeper=FAMILY)


def _status(settings: object, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()  # drop what earlier commands printed
    commands.status(settings, as_json=True)  # type: ignore[arg-type]
    report = json.loads(capsys.readouterr().out)
    assert isinstance(report, dict)
    return report


def _service(settings: object, capsys: pytest.CaptureFixture[str], name: str) -> dict[str, Any]:
    services: list[dict[str, Any]] = _status(settings, capsys)["services"]  # type: ignore[assignment]
    return next(s for s in services if s["name"] == name)


def test_owner_refuses_a_second_stack_and_down_stops_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = local_settings(state_dir=tmp_path)
    owner_log = (tmp_path / "owner.log").open("wb")
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path)], stdout=owner_log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "run" / "stack.json").exists():
            assert owner.poll() is None, (tmp_path / "owner.log").read_text()
            assert time.monotonic() < deadline, "the dummy stack did not come up"
            time.sleep(0.05)
        report = _status(settings, capsys)
        assert report["running"] is True
        services = {s["name"]: s for s in report["services"]}  # type: ignore[attr-defined]
        assert services["collector"]["state"] == "running"
        assert services["broker"]["state"] == "stopped"
        killed_pid = services["collector"]["pid"]

        # A service that dies is restarted by the owner; status, another process, sees it.
        os.kill(killed_pid, signal.SIGKILL)
        while (collector := _service(settings, capsys, "collector"))["restarts"] != 1 or (
            collector["state"] != "running"
        ):
            assert owner.poll() is None, (tmp_path / "owner.log").read_text()
            assert time.monotonic() < deadline + 20, f"the collector was not restarted: {collector}"
            time.sleep(0.05)
        assert collector["last_exit"] == "killed by signal SIGKILL"
        collector_pid = collector["pid"]
        assert collector_pid != killed_pid
        assert pids.group_members(killed_pid) == [], "the killed collector's child is left"

        with pytest.raises(ServiceError, match="already running"):
            commands.run_stack(settings, simulator=False, steps=[])

        commands.down(settings)

        assert owner.wait(timeout=5) == 0
        assert pids.group_members(collector_pid) == []
        assert _status(settings, capsys)["running"] is False
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["stack.lock"]
        owner_said = (tmp_path / "owner.log").read_text()
        assert "collector exited (killed by signal SIGKILL); restarting in 1 s, restart 1" in (
            owner_said
        )
        assert "stopped" in owner_said
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        owner_log.close()


def test_down_with_nothing_running_is_fine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commands.down(local_settings(state_dir=tmp_path))
    assert "nothing was running" in capsys.readouterr().out
