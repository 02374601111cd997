"""``python -m streams [--stage validate|nudges|waits|dispatch|campaigns]``: run a stream worker.

Without ``--stage`` one process runs validation and nudges (tests, small set-ups); the
dispatcher runs only when asked for, because it sends real SMS through the configured
gateway, and so does the campaign fan-out, which needs ClickHouse. ``channelhub up`` and
production run each stage in its own worker process, so the nudge stage's CPU never slows
validation, a slow gateway never slows either, and each scales on its own through its
consumer group.
"""

from enum import StrEnum
from typing import Annotated

import typer
from mode import Service

from kernel import startup
from kernel.settings import SecretName, Settings
from streams.app import StageWorker, create_app
from streams.campaigns import CampaignFanOut
from streams.dispatcher import DispatchStage, add_callback_page
from streams.nudges import NudgeStage
from streams.validator import RawValidator
from streams.wait_predictor import WaitPredictor

_FAUST_LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error"}


class Stage(StrEnum):
    VALIDATE = "validate"
    NUDGES = "nudges"
    DISPATCH = "dispatch"
    CAMPAIGNS = "campaigns"
    WAITS = "waits"


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command(
    help="Run a stream worker: one stage (validate, nudges, waits, dispatch or campaigns) "
    "or, without --stage, validation and nudges in one process. Settings come from "
    "CHANNELHUB_* environment variables."
)
def main(
    stage: Annotated[
        Stage | None, typer.Option(help="Run only this stage (default: validate and nudges).")
    ] = None,
) -> None:
    uses: list[SecretName] = []
    if stage in (None, "nudges"):
        uses.append("pseudonym_key")  # campaign audiences come as pseudonyms
    if stage == "dispatch" and Settings().sms_gateway == "webhook":
        uses.append("sms_callback_token")
    # faust installs its own log handlers; the records they get are scrubbed all the same.
    settings = startup.start(f"worker {stage or 'all'}", *uses, configure_logs=False)
    (settings.state_dir / f"worker-{stage or 'all'}").mkdir(parents=True, exist_ok=True)
    if stage == "dispatch":
        dispatcher = DispatchStage(settings)
        faust_app = create_app(
            settings, name=stage, web_port=settings.dispatcher_web_port,
            web_host=settings.dispatcher_web_host,
        )  # fmt: skip
        add_callback_page(faust_app, dispatcher)
        services: list[Service] = [dispatcher]
    elif stage == "waits":
        services = [WaitPredictor(settings)]
        faust_app = create_app(settings, name=stage, web_port=settings.waits_web_port)
    elif stage == "campaigns":
        services = [CampaignFanOut(settings)]
        faust_app = create_app(settings, name=stage, web_port=settings.campaigns_web_port)
    else:
        services = []
        if stage in (None, "validate"):
            services.append(RawValidator(settings))
        if stage in (None, "nudges"):
            services.append(NudgeStage(settings))
        web_port = settings.nudger_web_port if stage == "nudges" else settings.worker_web_port
        faust_app = create_app(settings, name=stage or "all", web_port=web_port)
    worker = StageWorker(
        faust_app, *services, loglevel=_FAUST_LEVELS[settings.log_level], quiet=True
    )
    worker.execute_from_commandline()


if __name__ == "__main__":
    app(prog_name="python -m streams")
