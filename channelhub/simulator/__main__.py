"""``python -m channelhub.simulator``: the ``channelhub simulate`` command on its own, for
process managers that start Python modules."""

import typer

from channelhub.cli import simulate

if __name__ == "__main__":
    typer.run(simulate)
