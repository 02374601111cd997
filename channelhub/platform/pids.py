"""Processes by PID, never by name: pid files, liveness, and stopping a process group.

A pid file records the PID *and* the kernel's start time of that process, so a PID that the
kernel has since handed to an unrelated program is recognised as stale and never signalled.
Every service is started as the leader of its own session, so its process group id equals its
PID and stopping the group also stops whatever the service spawned.

Linux only: liveness and group membership are read from ``/proc``.
"""

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

POLL_SECONDS = 0.05


@dataclass(frozen=True)
class PidRecord:
    """What a pid file says: which process, started when, serving what."""

    name: str
    pid: int
    start_time: int
    endpoint: str = ""

    def alive(self) -> bool:
        """True while the very process that was recorded still runs (not a reused PID)."""
        return proc_start_time(self.pid) == self.start_time


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (after the command name), or None if gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    return data[data.rindex(")") + 2 :].split()


def proc_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot; None when gone or a zombie."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])  # field 22 of stat(5)


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs and is not a zombie waiting to be reaped."""
    return proc_start_time(pid) is not None


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def write_pid_file(path: Path, name: str, pid: int, endpoint: str = "") -> PidRecord:
    """Record ``pid`` with its start time; written atomically so readers never see half."""
    start_time = proc_start_time(pid)
    record = PidRecord(name=name, pid=pid, start_time=start_time or -1, endpoint=endpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record)))
    tmp.replace(path)
    return record


def read_pid_file(path: Path) -> PidRecord | None:
    """The record in ``path``, or None when missing or unreadable (treated as not running)."""
    try:
        return PidRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    if pgid == os.getpgrp():
        # Never signal our own group: that would take down the caller (and its terminal).
        raise RuntimeError(f"refusing to signal this process's own group {pgid}")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def stop_groups(
    pgids: Iterable[int],
    grace: float,
    reap: Callable[[], object] = lambda: None,
) -> list[int]:
    """SIGTERM every group, wait up to ``grace`` seconds for all, then SIGKILL what is left.

    The groups are signalled together so the total time is one grace period, not one per
    service. ``reap`` is called while waiting so a parent can collect its exited children
    (a zombie leader would otherwise look alive to ``kill(0)``). Returns the groups that had to
    be killed.
    """
    pending = [p for p in pgids if group_members(p)]
    for pgid in pending:
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pending and time.monotonic() < deadline:
        reap()
        pending = [p for p in pending if group_members(p)]
        if pending:
            time.sleep(POLL_SECONDS)
    killed = list(pending)
    for pgid in killed:
        _signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pending and time.monotonic() < deadline:
        reap()
        pending = [p for p in pending if group_members(p)]
        if pending:
            time.sleep(POLL_SECONDS)
    return killed


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is gone; True if it exited within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(POLL_SECONDS)
    return not pid_alive(pid)
