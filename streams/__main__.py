"""``python -m streams [--stage validate|nudges]``: run a stream worker.

Without ``--stage`` one process runs both stages (tests, small set-ups). ``channelhub up`` and
production run each stage in its own worker process, so the nudge stage's CPU never slows
validation, and each scales on its own through its consumer group.
"""

import argparse

import faust
from mode import Service

from channelhub.settings import Settings
from streams.app import create_app
from streams.nudges import NudgeStage
from streams.validator import RawValidator

_FAUST_LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error"}
STAGES = ("validate", "nudges")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m streams", description=__doc__)
    parser.add_argument("--stage", choices=STAGES, help="run only this stage (default: both)")
    stage = parser.parse_args().stage
    settings = Settings()
    (settings.state_dir / f"worker-{stage or 'all'}").mkdir(parents=True, exist_ok=True)
    services: list[Service] = []
    if stage in (None, "validate"):
        services.append(RawValidator(settings))
    if stage in (None, "nudges"):
        services.append(NudgeStage(settings))
    web_port = settings.nudger_web_port if stage == "nudges" else settings.worker_web_port
    app = create_app(settings, name=stage or "all", web_port=web_port)
    worker = faust.Worker(app, *services, loglevel=_FAUST_LEVELS[settings.log_level], quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
