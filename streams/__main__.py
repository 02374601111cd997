"""``python -m streams``: run one stream worker with settings from the environment."""

import faust

from channelhub.settings import Settings
from streams.app import create_app
from streams.nudges import NudgeStage
from streams.validator import RawValidator

_FAUST_LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error"}


def main() -> None:
    settings = Settings()
    (settings.state_dir / "worker").mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    worker = faust.Worker(
        app,
        RawValidator(settings),
        NudgeStage(settings),
        loglevel=_FAUST_LEVELS[settings.log_level],
        quiet=True,
    )
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
