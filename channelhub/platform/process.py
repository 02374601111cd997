"""One service of the local platform: a declarative spec and the process that runs it.

A :class:`ServiceSpec` says *what* to run (argv, env, health probe, endpoint); a
:class:`ManagedProcess` runs it the same way for every service, so the broker, ClickHouse and
the Python services are started, watched and stopped by one piece of code:

- in its own session (``start_new_session``), so Ctrl-C in the terminal reaches only ``up``,
  which then stops the services in order, and so the whole process group can be signalled;
- stdout and stderr appended to ``<state_dir>/logs/<name>.log``;
- ``<state_dir>/run/<name>.pid`` records PID and start time, so ``down`` and ``status`` from
  another process find it, and a reused PID is never mistaken for it;
- stopped with SIGTERM to the group, SIGKILL after a grace period. Never by name;
- a stack owner's SIGINT/SIGTERM handler (:func:`interrupt`) waits while a process is being
  spawned and recorded, so Ctrl-C can never leave behind a process nobody knows the PID of.

A failed start (early exit, or no health before the deadline) raises :class:`ServiceError`
naming the service and its log file, with the last lines of the log.
"""

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_delay,
    wait_exponential,
)

from channelhub.platform import pids
from channelhub.platform.health import Probe
from kernel.errors import ServiceError

Echo = Callable[[str], None]
TAIL_LINES = 20


@dataclass(frozen=True)
class ServiceSpec:
    """What to run for one service and how to tell that it is ready."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    health: Probe | None = None
    endpoint: str = ""
    startup_timeout: float = 60.0
    min_uptime: float = 0.0
    """Seconds the process must stay alive before it counts as healthy (for probe-less ones)."""
    stop_grace: float = 5.0
    infrastructure: bool = False
    """Broker and database: stopped after the services that write to them."""
    extra_logs: tuple[Path, ...] = ()
    """Logs the program writes itself (e.g. ClickHouse's own log), shown on failure too."""
    cwd: Path | None = None
    prepare: Callable[[], object] | None = None
    """Runs just before each start (e.g. render a config file), not when the spec is built."""
    late_args: Callable[[], Sequence[str]] | None = None
    """Arguments decided just before each start, from what earlier services hold."""


class _Interrupts:
    """Whether the main thread is spawning a process, and the stop signal that came meanwhile."""

    spawning = 0
    pending: int | None = None


def interrupt(signum: int, frame: object) -> None:
    """SIGINT/SIGTERM handler of a stack owner: raise KeyboardInterrupt, at once or, while a
    process is being spawned, as soon as its handle and pid file exist."""
    if _Interrupts.spawning:
        _Interrupts.pending = signum
        return
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _spawning() -> Iterator[None]:
    """Hold back :func:`interrupt` while the main thread spawns and records a process.

    A KeyboardInterrupt between fork and ``self._popen = ...`` would orphan a running service
    that neither ``stop`` nor ``down`` can find. Signal handlers run only in the main thread,
    so other threads have nothing to hold back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _Interrupts.spawning += 1
    try:
        yield
    finally:
        _Interrupts.spawning -= 1
        if not _Interrupts.spawning and _Interrupts.pending is not None:
            signum, _Interrupts.pending = _Interrupts.pending, None
            raise KeyboardInterrupt(f"signal {signum}")


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file, or a note that there is none yet."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return f"    ({path} does not exist)"
    tail = text.splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in tail) or f"    ({path} is empty)"


class ManagedProcess:
    """A running (or not yet started) instance of a :class:`ServiceSpec`."""

    def __init__(self, spec: ServiceSpec, state_dir: Path) -> None:
        self.spec = spec
        self.state_dir = state_dir
        self.log_path = state_dir / "logs" / f"{spec.name}.log"
        self.pid_path = state_dir / "run" / f"{spec.name}.pid"
        self._popen: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "ManagedProcess":
        """Spawn the process in a new session and record its pid file; returns immediately."""
        if self._popen is not None and self._popen.poll() is None:
            raise ServiceError(f"{self.spec.name} is already running (pid {self._popen.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.spec.prepare is not None:
            self.spec.prepare()
        argv = [*self.spec.argv, *(self.spec.late_args() if self.spec.late_args else ())]
        with _spawning(), self.log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            log.write(f"--- {stamp} starting: {' '.join(argv)}\n".encode())
            log.flush()
            try:
                self._popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **self.spec.env},
                    cwd=self.spec.cwd,
                    start_new_session=True,
                )
            except OSError as e:
                raise ServiceError(
                    f"{self.spec.name} could not be started ({' '.join(argv)}): {e}"
                ) from e
            self._started_at = time.monotonic()
            pids.write_pid_file(self.pid_path, self.spec.name, self._popen.pid, self.spec.endpoint)
        return self

    def wait_healthy(self, progress: Echo | None = None, every: float = 5.0) -> None:
        """Poll the spec's probe until it passes; raise ServiceError on exit or deadline.

        ``progress`` is told every ``every`` seconds that we are still waiting, so a slow start
        on the command line does not look like a hang.
        """
        spec = self.spec
        last_report = time.monotonic()

        def probe() -> None:
            nonlocal last_report
            now = time.monotonic()
            if progress and now - last_report >= every:
                progress(f"  still waiting for {spec.name} ({now - self._started_at:.0f}s)")
                last_report = now
            self.check_ready()

        retrying = Retrying(
            stop=stop_after_delay(spec.startup_timeout),
            wait=wait_exponential(multiplier=0.05, max=0.5),
            # Retry failed probes, but not an early exit, and never swallow Ctrl-C.
            retry=retry_if_exception_type(Exception) & retry_if_not_exception_type(ServiceError),
            reraise=True,
        )
        try:
            retrying(probe)
        except ServiceError:
            raise
        except Exception as e:
            raise self.failure(
                f"did not become healthy within {spec.startup_timeout:.0f}s "
                f"(last check: {type(e).__name__}: {e})"
            ) from e

    def check_ready(self) -> None:
        """Return when ready; raise ServiceError if the process exited, any other exception
        while it is not ready yet (too short an uptime, or the health probe failing)."""
        self._raise_if_exited()
        if self.uptime < self.spec.min_uptime:
            raise TimeoutError(f"up for less than {self.spec.min_uptime}s")
        if self.spec.health is not None and self.spec.health() is False:
            raise ConnectionError("health probe returned False")

    def note(self, text: str) -> None:
        """Append ``--- <time> <text>`` to the service's log, as :meth:`start` does."""
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n".encode())

    def stop(self, grace: float | None = None) -> None:
        """SIGTERM the process group, SIGKILL after the grace period, remove the pid file."""
        stop_all([self], grace if grace is not None else self.spec.stop_grace)

    def __enter__(self) -> "ManagedProcess":
        self.start()
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- state -------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def exit_code(self) -> int | None:
        """None while running (or never started), else the exit status (negative: signal)."""
        return self._popen.poll() if self._popen is not None else None

    @property
    def uptime(self) -> float:
        """Seconds since the latest start (0 when never started)."""
        return time.monotonic() - self._started_at if self._popen is not None else 0.0

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def wait(self, timeout: float) -> int | None:
        """Wait for the process to exit (and reap it); its exit code, or None on timeout."""
        if self._popen is None:
            return None
        try:
            return self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def reap(self) -> None:
        if self._popen is not None:
            self._popen.poll()

    def failure(self, what: str) -> ServiceError:
        """A ServiceError that names the service and its logs, with their last lines."""
        parts = [f"{self.spec.name} {what}; see {self.log_path}", log_tail(self.log_path)]
        for extra in self.spec.extra_logs:
            parts += [f"  and {extra}:", log_tail(extra)]
        return ServiceError("\n".join(parts))

    def _raise_if_exited(self) -> None:
        code = self.exit_code
        if self._popen is None:
            raise ServiceError(f"{self.spec.name} was never started")
        if code is not None:
            raise self.failure(f"exited with code {code} while starting")


def stop_all(processes: Sequence[ManagedProcess], grace: float) -> None:
    """Stop several services together within one grace period, and remove their pid files."""
    started = [p for p in processes if p.pid is not None]

    def reap() -> None:
        for p in started:
            p.reap()

    pids.stop_groups([p.pid for p in started if p.pid is not None], grace, reap)
    for p in started:
        # /proc may show a dying multi-threaded leader as gone before waitpid can reap it.
        p.wait(timeout=5)
        record = pids.read_pid_file(p.pid_path)
        if record is not None and record.pid == p.pid:
            p.pid_path.unlink(missing_ok=True)
