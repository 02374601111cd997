"""``python -m channelhub.simulator.handsets``: consume dispatches, produce the answers."""

import typer

from channelhub.simulator.handsets.service import main

if __name__ == "__main__":
    typer.run(main)
