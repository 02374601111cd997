"""Small health probes for service specs: each raises while the service is not ready.

A probe is a zero-argument callable that returns when healthy and raises (any exception) when
not; :meth:`ManagedProcess.wait_healthy` polls it until a deadline. Keeping probes as plain
callables lets a spec use a TCP connect, an HTTP GET or a database query alike.
"""

import socket
from collections.abc import Callable

import httpx

Probe = Callable[[], object]


def tcp_open(host: str, port: int, timeout: float = 1.0) -> Probe:
    """Healthy once something accepts TCP connections on ``host:port``."""

    def probe() -> None:
        with socket.create_connection((host, port), timeout=timeout):
            pass

    return probe


def http_ok(url: str, timeout: float = 2.0) -> Probe:
    """Healthy once ``GET url`` answers 200 (after redirects, e.g. to a sign-in page)."""

    def probe() -> None:
        status = httpx.get(url, timeout=timeout, follow_redirects=True).status_code
        if status != 200:
            raise ConnectionError(f"GET {url} answered {status}, expected 200")

    return probe


def split_host_port(address: str) -> tuple[str, int]:
    """``"127.0.0.1:19092"`` → ``("127.0.0.1", 19092)``."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    return host, int(port)
