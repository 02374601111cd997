"""The test SMSC: ``tests/orchestration/smsc/smsc.js`` on the npm ``smpp`` server, run by PID.

Installed by ``npm ci --prefix tests/orchestration/smsc`` (``make setup``); a missing node or
``node_modules`` fails the test with that command, never a skip.
"""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from channelhub.platform.health import tcp_open
from channelhub.platform.process import ServiceSpec

SMSC_DIR = Path(__file__).parent / "smsc"
INSTALL = "npm ci --prefix tests/orchestration/smsc (Debian: apt-get install nodejs npm)"


def smsc_spec(port: int, log_path: Path, mo_text: str = "", exit_after: int = 0) -> ServiceSpec:
    """The SMSC on 127.0.0.1:``port``, logging each submit_sm it takes to ``log_path``.

    ``mo_text``: a reply the recipient sends after each message; ``exit_after``: the SMSC
    exits after answering that many submit_sm.
    """
    node = shutil.which("node")
    if node is None or not (SMSC_DIR / "node_modules" / "smpp").is_dir():
        pytest.fail(f"the test SMSC needs node and its npm packages: {INSTALL}", pytrace=False)
    return ServiceSpec(
        name=f"smsc-{port}",
        argv=[node, str(SMSC_DIR / "smsc.js"), str(port), str(log_path)],
        env={"SMSC_MO_TEXT": mo_text, "SMSC_EXIT_AFTER": str(exit_after)},
        health=tcp_open("127.0.0.1", port),
        endpoint=f"127.0.0.1:{port}",
        startup_timeout=20.0,
        stop_grace=2.0,
    )


def submits(log_path: Path) -> list[dict[str, Any]]:
    """Every submit_sm the SMSC logged, in order, across its restarts."""
    if not log_path.exists():
        return []
    return [json.loads(line) for line in log_path.read_text().splitlines() if line]
