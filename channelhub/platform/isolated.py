"""A stack of its own on this machine: free ports, settings that read no ``.env`` file, and
services started one after the other, each waited for.

The benchmarks (``bench/``) and the tests (``tests/fixtures/services.py``) both start real
services beside whatever else runs here; this is the one place that knows how.
"""

import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from channelhub.platform.process import ManagedProcess, ServiceSpec
from kernel.settings import Settings

#: Ports of other systems, not of a service we start: left as configured.
_NOT_OURS = frozenset({"sms_smpp_port"})


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local_settings(**values: Any) -> Settings:
    """Settings from these values and defaults only: no stray ``.env`` file."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def isolated_settings(state_dir: Path, **values: Any) -> Settings:
    """:func:`local_settings` for a stack under ``state_dir`` with every one of our ports (the
    broker's, ClickHouse's, every service's) free; ``values`` override any of them."""
    ports: dict[str, Any] = {
        name: free_port()
        for name in Settings.model_fields
        if name.endswith("_port") and name not in _NOT_OURS
    }
    ports["kafka_bootstrap"] = f"127.0.0.1:{free_port()}"
    return local_settings(state_dir=state_dir, **{**ports, **values})


def start_process(spec: ServiceSpec, state_dir: Path) -> ManagedProcess:
    """Start ``spec`` and wait for its health; on failure stop it and re-raise."""
    process = ManagedProcess(spec, state_dir)
    process.start()
    try:
        process.wait_healthy()
    except BaseException:
        process.stop()
        raise
    return process


def start_in_order(specs: Iterable[ServiceSpec], state_dir: Path) -> list[ManagedProcess]:
    """Start each of ``specs`` once the one before is healthy; on a failure stop every one
    started and re-raise."""
    started: list[ManagedProcess] = []
    try:
        for spec in specs:
            started.append(start_process(spec, state_dir))
    except BaseException:
        for process in reversed(started):
            process.stop()
        raise
    return started
