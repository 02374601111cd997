"""Logging set up once per process, in one format, so the logs of every service read alike."""

import logging
import sys


def configure(level: str = "INFO", service: str = "channelhub") -> None:
    """Send records to stderr as ``time level service logger: message``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S",
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("kafka", "aiokafka", "faust", "mode", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # The driver logs every refused connection with a traceback; our errors say it in a line.
    logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)
