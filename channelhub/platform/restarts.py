"""Restarting a service that exits: the wait between attempts, and the record ``status`` reads.

The stack owner restarts a service that exits after an exponential backoff (1 s doubling to
30 s), so a crash loop costs little CPU and its log stays readable, while a one-off crash is
repaired within a second. The wait starts again from 1 s once the service had stayed up for
60 s: a service that crashes once a day should not wait 30 s because it crashed last week.

``channelhub status`` runs in another process than the owner, so each service's restart count
and last exit reason are kept in ``<state_dir>/run/<name>.status.json`` beside its pid file,
replaced atomically on every change so a reader never sees half a record.
"""

import json
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

RECORD_SUFFIX = ".status.json"


@dataclass(frozen=True)
class Backoff:
    """How long to wait before restarting a service that exited."""

    initial: float = 1.0
    maximum: float = 30.0
    reset_after: float = 60.0
    """Uptime after which an exit counts as the first failure again."""

    def delay(self, failures: int) -> float:
        """Seconds before the restart that follows ``failures`` failures in a row (1, 2, ...)."""
        return min(self.maximum, self.initial * 2.0 ** min(failures - 1, 62))


@dataclass(frozen=True)
class RestartRecord:
    """What ``status`` shows about a supervised service besides its pid file."""

    name: str
    restarts: int = 0
    last_exit: str | None = None
    """``exit code N``, ``killed by signal NAME``, or why a restart attempt was given up."""
    last_exit_at: str | None = None
    next_restart_at: str | None = None
    """Set while the service waits out its backoff; None once it has been started again."""


def exit_reason(code: int) -> str:
    """A Popen return code in words: ``exit code 3``, ``killed by signal SIGKILL``."""
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = str(-code)
    return f"killed by signal {name}"


def utc_stamp(epoch: float | None = None) -> str:
    """``2026-12-03T10:20:00Z``: wall-clock time, since another process reads it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def record_path(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}{RECORD_SUFFIX}"


def write_record(run_dir: Path, record: RestartRecord) -> None:
    """Replace the service's record atomically (temporary file, then rename)."""
    path = record_path(run_dir, record.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(asdict(record)))
    tmp.replace(path)


def read_record(run_dir: Path, name: str) -> RestartRecord | None:
    """The service's record, or None when there is none (never supervised, or stopped)."""
    try:
        return RestartRecord(**json.loads(record_path(run_dir, name).read_text()))
    except (OSError, ValueError, TypeError):
        return None
