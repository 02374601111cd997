"""The background owner of a stack started with ``channelhub up --detach``.

``up --detach`` re-executes this module in its own session with the settings in the
environment. It runs exactly what the foreground ``up`` runs, so both behave alike: it
restarts a service that exits (after a backoff, see :mod:`channelhub.platform.restarts`),
logging each exit and restart to ``<state_dir>/logs/supervisor.log``; stop it with SIGTERM
(``channelhub down``) and it stops every service it started.
"""

import argparse
import sys

from channelhub import logs
from channelhub.errors import ChannelhubError
from channelhub.platform import commands
from channelhub.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channelhub.platform.supervisor")
    parser.add_argument("--no-simulator", action="store_true", help="do not start the simulator")
    args = parser.parse_args(argv)
    settings = Settings()
    logs.configure(settings.log_level, service="supervisor")
    try:
        commands.run_stack(settings, simulator=not args.no_simulator, detached=True)
    except ChannelhubError as e:
        print(f"channelhub: {e}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
