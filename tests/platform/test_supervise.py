"""The stack keeps its services running: tiny real processes, killed and crashing, no servers."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from channelhub.platform import commands, pids
from channelhub.platform.process import ManagedProcess, ServiceSpec, interrupt
from channelhub.platform.restarts import Backoff, exit_reason, read_record, record_path
from channelhub.platform.stack import Hook, Stack, Step
from tests.fixtures.services import local_settings

SLEEPER = "import time; time.sleep(60)"
# A leader with a child in its group: the child must not outlive a killed leader's restart.
FAMILY = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
)
CRASHER = "import sys, time; time.sleep(0.3); sys.exit(3)"
FAST = Backoff(initial=0.05, maximum=0.2, reset_after=60)


def python(name: str, code: str, **kwargs: object) -> ServiceSpec:
    return ServiceSpec(name=name, argv=[sys.executable, "-c", code], min_uptime=0.1, **kwargs)  # type: ignore[arg-type]


class Running:
    """A started stack, the lines it said, and a way to tick it until something holds."""

    def __init__(self, tmp_path: Path, steps: list[Step], backoff: Backoff) -> None:
        self.run_dir = tmp_path / "run"
        self.lines: list[str] = []
        self.stack = Stack(local_settings(state_dir=tmp_path), steps, self.lines.append, backoff)
        self.stack.start()

    def process(self, name: str) -> ManagedProcess:
        return next(p for p in self.stack.processes if p.spec.name == name)

    def until(self, holds: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not holds():
            assert time.monotonic() < deadline, f"{what}; said: {self.lines}"
            self.stack.tick()
            time.sleep(0.02)

    def said(self, pattern: str) -> list[re.Match[str]]:
        return [m for line in self.lines if (m := re.search(pattern, line))]

    def restarted(self, name: str, times: int) -> Callable[[], bool]:
        return lambda: len(self.said(rf"{name} running again \(pid \d+, restart {times}\)")) > 0


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(*steps: Step, backoff: Backoff = FAST) -> Running:
        started.append(Running(tmp_path, list(steps), backoff))
        return started[-1]

    yield start
    for r in started:
        r.stack.stop()


def test_backoff_doubles_to_its_maximum() -> None:
    backoff = Backoff(initial=1, maximum=30)
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay(10_000) == 30


def test_exit_reasons_name_the_code_or_the_signal() -> None:
    assert exit_reason(3) == "exit code 3"
    assert exit_reason(0) == "exit code 0"
    assert exit_reason(-signal.SIGKILL) == "killed by signal SIGKILL"


def test_a_killed_service_is_restarted_and_the_others_keep_their_pids(
    running: Callable[..., Running],
) -> None:
    r = running(python("collector", SLEEPER), python("sink", FAMILY))
    collector, sink = r.process("collector"), r.process("sink")
    old = sink.pid
    assert old is not None
    r.until(lambda: len(pids.group_members(old)) == 2, "the sink's child did not start")

    os.kill(old, signal.SIGKILL)
    r.until(r.restarted("sink", 1), "the sink was not restarted")

    assert sink.running
    assert sink.pid != old
    assert pids.group_members(old) == [], "the killed leader's child was left running"
    record = pids.read_pid_file(r.run_dir / "sink.pid")
    assert record is not None
    assert record.pid == sink.pid
    assert record.alive()
    assert collector.running
    assert r.said(r"sink exited \(killed by signal SIGKILL\); restarting in 0\.05 s, restart 1")
    assert "exited (killed by signal SIGKILL)" in sink.log_path.read_text()
    collector_record = read_record(r.run_dir, "collector")
    assert collector_record is not None
    assert collector_record.restarts == 0


def test_backoff_grows_for_a_crash_looping_service(running: Callable[..., Running]) -> None:
    r = running(python("collector", SLEEPER), python("sink", CRASHER))
    collector_pid = r.process("collector").pid

    r.until(lambda: len(r.said("sink exited")) >= 4, "the sink did not crash four times")

    delays = [float(m[1]) for m in r.said(r"sink exited \(exit code 3\); restarting in (\S+) s")]
    assert delays[:4] == [0.05, 0.1, 0.2, 0.2]
    record = read_record(r.run_dir, "sink")
    assert record is not None
    assert record.restarts >= 3
    assert record.last_exit == "exit code 3"
    assert r.process("collector").pid == collector_pid


def test_backoff_starts_over_after_a_long_enough_run(running: Callable[..., Running]) -> None:
    r = running(python("sink", CRASHER), backoff=Backoff(initial=0.05, reset_after=0.1))

    r.until(lambda: len(r.said("sink exited")) >= 3, "the sink did not crash three times")

    assert {m[1] for m in r.said(r"restarting in (\S+) s")} == {"0.05"}


def test_status_json_shows_restarts_and_the_last_exit_reason(
    tmp_path: Path, running: Callable[..., Running], capsys: pytest.CaptureFixture[str]
) -> None:
    r = running(python("collector", SLEEPER), python("sink", SLEEPER))
    # status reads restart records only while the stack has an owner: this test is it.
    pids.write_pid_file(r.run_dir / "stack.pid", "stack", os.getpid())
    sink_pid = r.process("sink").pid
    assert sink_pid is not None

    os.kill(sink_pid, signal.SIGKILL)
    r.until(r.restarted("sink", 1), "the sink was not restarted")
    capsys.readouterr()
    commands.status(local_settings(state_dir=tmp_path), as_json=True)
    services = {s["name"]: s for s in json.loads(capsys.readouterr().out)["services"]}

    sink = services["sink"]
    assert sink["state"] == "running"
    assert sink["pid"] == r.process("sink").pid
    assert sink["restarts"] == 1
    assert sink["last_exit"] == "killed by signal SIGKILL"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", sink["last_exit_at"])
    assert sink["next_restart_at"] is None
    assert set(sink) >= {"name", "state", "pid", "endpoint"}
    assert services["collector"]["restarts"] == 0
    assert services["collector"]["last_exit"] is None
    assert services["broker"] == {
        **services["broker"], "state": "stopped", "pid": None, "restarts": 0, "last_exit": None,
    }  # fmt: skip

    commands.status(local_settings(state_dir=tmp_path), as_json=False)
    table = capsys.readouterr().out
    assert re.search(r"sink +running .*\(restarts 1, last exit: killed by signal SIGKILL", table)


def test_stop_during_a_backoff_stops_everything_and_restarts_nothing(
    running: Callable[..., Running],
) -> None:
    r = running(python("collector", SLEEPER), python("sink", CRASHER), backoff=Backoff(initial=30))
    collector_pid = r.process("collector").pid
    r.until(lambda: bool(r.said("sink exited")), "the sink did not crash")
    record = read_record(r.run_dir, "sink")
    assert record is not None
    assert record.next_restart_at is not None

    began = time.monotonic()
    r.stack.stop()

    assert time.monotonic() - began < 3
    assert collector_pid is not None
    assert not pids.pid_alive(collector_pid)
    assert list(r.run_dir.glob("*.pid")) == []
    assert not record_path(r.run_dir, "sink").exists()
    r.stack.tick()  # nothing left to restart
    assert r.stack.processes == []


def test_stop_while_a_restarted_service_waits_for_health_leaves_nothing_behind(
    tmp_path: Path, running: Callable[..., Running]
) -> None:
    ready = tmp_path / "ready"
    ready.touch()
    r = running(python("sink", SLEEPER, health=ready.exists))
    old = r.process("sink").pid
    assert old is not None
    ready.unlink()  # the restarted sink never becomes healthy

    os.kill(old, signal.SIGKILL)
    r.until(lambda: r.process("sink").pid != old, "the sink was not started again")
    new = r.process("sink").pid
    assert new is not None
    assert pids.pid_alive(new)
    r.stack.tick()

    r.stack.stop()

    assert pids.group_members(new) == []
    assert list(r.run_dir.iterdir()) == []


def test_a_restart_runs_the_hooks_that_depend_on_the_service_again(
    running: Callable[..., Running],
) -> None:
    calls: list[float] = []

    def topics() -> None:
        calls.append(time.monotonic())
        if len(calls) == 2:
            raise ConnectionError("broker not ready for topics")

    r = running(
        python("broker", SLEEPER),
        Hook("topics", topics, rerun_after=("broker",)),
        python("collector", SLEEPER),
    )
    collector_pid = r.process("collector").pid
    broker_pid = r.process("broker").pid
    assert broker_pid is not None
    assert len(calls) == 1

    os.kill(broker_pid, signal.SIGKILL)
    r.until(r.restarted("broker", 2), "the broker was not restarted")

    # Restart 1 came up but its topics failed: that attempt was given up and retried.
    assert len(calls) == 3
    assert r.said(r"broker failed \(topics failed: ConnectionError: broker not ready for topics\)")
    record = read_record(r.run_dir, "broker")
    assert record is not None
    assert record.restarts == 2
    assert record.last_exit is not None
    assert record.last_exit.startswith("topics failed")
    assert r.process("collector").pid == collector_pid


def test_a_stop_signal_during_a_spawn_waits_until_the_process_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_popen = subprocess.Popen

    def signalled_popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        os.kill(os.getpid(), signal.SIGTERM)  # as if Ctrl-C came between fork and recording
        return real_popen(*args, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(subprocess, "Popen", signalled_popen)
    previous = signal.signal(signal.SIGTERM, interrupt)
    process = ManagedProcess(python("sink", SLEEPER), tmp_path)
    try:
        with pytest.raises(KeyboardInterrupt):
            process.start()
        assert process.running
        record = pids.read_pid_file(tmp_path / "run" / "sink.pid")
        assert record is not None
        assert record.pid == process.pid
    finally:
        signal.signal(signal.SIGTERM, previous)
        process.stop()
    assert not process.running
