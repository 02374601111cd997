"""The faust app that hosts channelhub's stream stages.

Each worker process is a faust worker: it owns the event loop, logging, signal handling and
the health endpoint (bound to 127.0.0.1 on the stage's web port, or where the dispatcher's
gateway callbacks must reach it). The stages themselves are ``mode`` services on the batched
runtime of :mod:`streams.runtime`; no faust agent or table runs, because faust's per-event
scheduling would cap a stage below the pipeline's target.
"""

import logging

import faust

from kernel.settings import Settings


def create_app(
    settings: Settings, *, name: str, web_port: int, web_host: str = "127.0.0.1"
) -> faust.App:
    """The faust app of one worker process; ``name`` tells its stages apart on disk.

    The web server is local only, except where callers must reach it (the dispatcher's
    gateway callbacks): ``web_host`` says so.
    """
    return faust.App(
        f"channelhub-streams-{name}",
        broker=f"kafka://{settings.kafka_bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_allow_declare=False,
        broker_session_timeout=settings.kafka_session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.kafka_session_timeout_ms / 6000,
        web_bind=web_host,
        web_port=web_port,
        datadir=str(settings.state_dir / f"worker-{name}"),
        consumer_auto_offset_reset="earliest",
    )


class StageWorker(faust.Worker):
    """faust's worker, with the Kafka clients' own loggers kept at INFO and above.

    When faust sets up the root logger it may lower it to DEBUG (for its terminal spinner),
    and aiokafka then formats a debug record for every message it sends: measured at 4% of
    the nudge stage's time under load, for lines nobody reads.
    """

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        for name in ("aiokafka", "kafka"):
            logging.getLogger(name).setLevel(max(level, logging.INFO))
