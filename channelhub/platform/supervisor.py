"""The background owner of a stack started with ``channelhub up --detach``.

``up --detach`` re-executes this module in its own session with the settings in the
environment. It runs exactly what the foreground ``up`` runs, so both behave alike: it
restarts a service that exits (after a backoff, see :mod:`channelhub.platform.restarts`),
logging each exit and restart to ``<state_dir>/logs/supervisor.log``; stop it with SIGTERM
(``channelhub down``) and it stops every service it started.
"""

from typing import Annotated

import typer

from channelhub.platform import commands
from kernel import startup
from kernel.errors import ChannelhubError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command(
    help="Run the whole stack in the background for `channelhub up --detach`, restarting a "
    "service that exits; SIGTERM (`channelhub down`) stops it and every service it started."
)
def supervise(
    no_simulator: Annotated[
        bool, typer.Option("--no-simulator", help="Do not start the simulator.")
    ] = False,
) -> None:
    settings = startup.start("supervisor")
    try:
        commands.run_stack(settings, simulator=not no_simulator, detached=True)
    except ChannelhubError as e:
        print(f"channelhub: {e}", flush=True)
        raise typer.Exit(1) from e


if __name__ == "__main__":
    app(prog_name="python -m channelhub.platform.supervisor")
