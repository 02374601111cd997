"""``channelhub up | down | status``: the local platform from the command line.

One state directory holds one stack. Whoever runs it (``up`` in the foreground, or the
supervisor behind ``up --detach``) is the *owner*: it holds an exclusive lock on
``run/stack.lock`` for its lifetime (the kernel drops it if the owner dies, so a crash never
leaves a stale lock), records itself in ``run/stack.pid``, and writes ``run/stack.json`` once
every service is healthy. ``down`` asks the owner to stop (SIGTERM) and cleans up by PID
whatever is left; ``status`` reads the pid files and the services' restart records.

If a service dies while the stack runs, the owner restarts it after a backoff and keeps the
others running (see :mod:`channelhub.platform.stack` and :mod:`channelhub.platform.restarts`).
"""

import contextlib
import fcntl
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from channelhub.platform import pids, prereqs
from channelhub.platform.env import settings_env
from channelhub.platform.process import Echo, ManagedProcess, ServiceSpec, interrupt
from channelhub.platform.restarts import RECORD_SUFFIX, read_record
from channelhub.platform.stack import Stack, Step, endpoints, plan
from kernel.errors import ServiceError
from kernel.settings import Settings

DETACHED_START_TIMEOUT = 600.0
OWNER_STOP_TIMEOUT = 15.0


def _echo(line: str) -> None:
    print(line, flush=True)


def _run_dir(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "run"


def _owner(settings: Settings) -> pids.PidRecord | None:
    """The live owner of the stack in this state dir, if any."""
    record = pids.read_pid_file(_run_dir(settings) / "stack.pid")
    return record if record is not None and record.alive() else None


def _already_running(settings: Settings, owner: pids.PidRecord | None) -> ServiceError:
    who = f" (pid {owner.pid})" if owner else ""
    return ServiceError(
        f"a stack is already running in {settings.state_dir.resolve()}{who}: "
        "run 'channelhub down' first, or set CHANNELHUB_STATE_DIR to another directory"
    )


@contextlib.contextmanager
def _state_lock(settings: Settings) -> Iterator[None]:
    """Hold ``run/stack.lock`` exclusively, or refuse: one stack per state directory."""
    run = _run_dir(settings)
    run.mkdir(parents=True, exist_ok=True)
    with (run / "stack.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise _already_running(settings, _owner(settings)) from e
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _print_summary(settings: Settings, stack: Stack, echo: Echo) -> None:
    echo("")
    echo("channelhub is up:")
    for name, endpoint in stack.endpoints():
        echo(f"  {name:<11} {endpoint or '-'}")
    echo(f"dashboard: {settings.dashboard_url}")
    echo(f"logs:      {settings.state_dir.resolve() / 'logs'}")


def run_stack(
    settings: Settings,
    *,
    simulator: bool,
    echo: Echo = _echo,
    steps: Sequence[Step] | None = None,
    detached: bool = False,
) -> None:
    """Own and run the stack until Ctrl-C or SIGTERM, restarting services that exit; always
    stop it all.

    ``steps`` replaces the standard plan (tests use it with small dummy services). Must run in
    the main thread, because it installs SIGINT and SIGTERM handlers.
    """
    run = _run_dir(settings)
    with _state_lock(settings):
        pids.write_pid_file(run / "stack.pid", "stack", os.getpid())
        chosen = steps if steps is not None else plan(settings, simulator=simulator)
        stack = Stack(settings, chosen, echo)
        previous_term = signal.signal(signal.SIGTERM, interrupt)
        previous_int = signal.signal(signal.SIGINT, interrupt)
        try:
            stack.start()
            _print_summary(settings, stack, echo)
            (run / "stack.json").write_text(json.dumps(dict(stack.endpoints())))
            if not detached:
                echo("press Ctrl-C to stop")
            stack.supervise()
        except KeyboardInterrupt:
            echo("shutting down ...")
        finally:
            # A second Ctrl-C must not abandon the services half-stopped.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            try:
                stack.stop()
                (run / "stack.json").unlink(missing_ok=True)
                (run / "stack.pid").unlink(missing_ok=True)
            finally:
                signal.signal(signal.SIGTERM, previous_term)
                signal.signal(signal.SIGINT, previous_int)
            echo("stopped")


def up(settings: Settings, *, detach: bool, simulator: bool) -> None:
    """Start the whole platform; in the foreground until Ctrl-C, or detached in the background.

    Refuses when a stack already runs in the same state directory.
    """
    prereqs.check_platform()
    owner = _owner(settings)
    if owner is not None:
        raise _already_running(settings, owner)
    if detach:
        _up_detached(settings, simulator=simulator)
    else:
        run_stack(settings, simulator=simulator)


def _up_detached(settings: Settings, *, simulator: bool, echo: Echo = _echo) -> None:
    """Start the supervisor in its own session, relay its progress, return once all are up."""
    ready = _run_dir(settings) / "stack.json"
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "channelhub.platform.supervisor"]
    if not simulator:
        argv.append("--no-simulator")
    relay = _LogRelay(settings.state_dir.resolve() / "logs" / "supervisor.log", echo)

    def started() -> None:
        relay.pump()
        if not ready.exists():
            raise TimeoutError("the supervisor has not reported all services healthy yet")

    supervisor = ManagedProcess(
        ServiceSpec(
            name="supervisor",
            argv=argv,
            env={**settings_env(settings), "PYTHONUNBUFFERED": "1"},
            health=started,
            startup_timeout=DETACHED_START_TIMEOUT,
        ),
        settings.state_dir.resolve(),
    )
    supervisor.start()
    try:
        supervisor.wait_healthy()
    except ServiceError as e:
        supervisor.stop(grace=OWNER_STOP_TIMEOUT)  # it stops its own services on SIGTERM
        relay.pump()  # its own last words (the reason) are now on screen
        raise ServiceError(f"the stack did not start; see {supervisor.log_path}") from e
    except BaseException:
        supervisor.stop(grace=OWNER_STOP_TIMEOUT)
        raise
    relay.pump()
    echo(f"running in the background (pid {supervisor.pid}); stop it with 'channelhub down'")


class _LogRelay:
    """Echo the lines appended to a log since creation (the supervisor's progress)."""

    def __init__(self, path: Path, echo: Echo) -> None:
        self.path = path
        self.echo = echo
        self.offset = path.stat().st_size if path.exists() else 0

    def pump(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            if not line.startswith("--- "):
                self.echo(line)


def down(settings: Settings, echo: Echo = _echo) -> None:
    """Stop the stack of this state directory by PID; fine when nothing runs."""
    run = _run_dir(settings)
    owner = _owner(settings)
    if owner is not None:
        echo(f"stopping the stack (pid {owner.pid}) ...")
        os.kill(owner.pid, signal.SIGTERM)
        if not pids.wait_for_exit(owner.pid, OWNER_STOP_TIMEOUT):
            echo(f"  pid {owner.pid} did not stop within {OWNER_STOP_TIMEOUT:.0f}s: killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(owner.pid, signal.SIGKILL)
    records = [r for p in sorted(run.glob("*.pid")) if (r := pids.read_pid_file(p)) is not None]
    leftovers = [r for r in records if r.name != "stack" and r.alive()]
    if leftovers:
        echo(f"stopping leftover {', '.join(r.name for r in leftovers)} ...")
        pids.stop_groups([r.pid for r in leftovers], grace=5.0)
    for path in run.glob("*.pid"):
        record = pids.read_pid_file(path)
        if record is None or not record.alive():
            path.unlink(missing_ok=True)
    for path in run.glob(f"*{RECORD_SUFFIX}"):
        path.unlink(missing_ok=True)  # an owner that was killed could not remove them
    if owner is None and not leftovers:
        echo(f"nothing was running in {settings.state_dir.resolve()}")
    else:
        echo("stopped")


def status(settings: Settings, *, as_json: bool, echo: Echo = _echo) -> None:
    """Each service's state, pid, endpoint, restarts and last exit, as a table or one JSON
    object."""
    run = _run_dir(settings)
    owner = _owner(settings)
    services = []
    for name, endpoint in endpoints(settings).items():
        record = pids.read_pid_file(run / f"{name}.pid")
        alive = record is not None and record.alive()
        # Written by the owner only: without one, a record is left over from a killed owner.
        restarts = read_record(run, name) if owner is not None else None
        services.append(
            {
                "name": name,
                "state": "running" if alive else "stopped",
                "pid": record.pid if alive and record else None,
                "endpoint": endpoint,
                "restarts": restarts.restarts if restarts else 0,
                "last_exit": restarts.last_exit if restarts else None,
                "last_exit_at": restarts.last_exit_at if restarts else None,
                "next_restart_at": restarts.next_restart_at if restarts else None,
            }
        )
    report = {
        "state_dir": str(settings.state_dir.resolve()),
        "running": owner is not None,
        "pid": owner.pid if owner else None,
        "dashboard_url": settings.dashboard_url,
        # The addresses scripts need, without parsing the human-readable endpoints.
        "endpoints": {
            "broker_bootstrap": settings.kafka_bootstrap,
            "clickhouse_native": f"{settings.clickhouse_host}:{settings.clickhouse_port}",
            "clickhouse_http": f"http://{settings.clickhouse_host}:{settings.clickhouse_http_port}/",
            "collector_url": settings.collector_url,
            "dashboard_url": settings.dashboard_url,
        },
        "services": services,
    }
    if as_json:
        echo(json.dumps(report))
        return
    echo(f"stack in {report['state_dir']}: {'running' if owner else 'stopped'}")
    for s in services:
        state = "restarting" if s["state"] == "stopped" and s["next_restart_at"] else s["state"]
        line = f"  {s['name']:<11} {state:<10} {s['pid'] or '-'!s:>7}  {s['endpoint']}"
        if s["restarts"] or s["last_exit"]:
            line += f"  (restarts {s['restarts']}, last exit: {s['last_exit']} at "
            line += f"{s['last_exit_at']})"
        echo(line)
