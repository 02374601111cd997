"""``python -m dashboards.alerts``: the one alert evaluator. Settings from the environment."""

import logging
import signal
import threading

from dashboards.alerts.service import run
from kernel import startup


def main() -> None:
    settings = startup.start("alerts")
    logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run(settings, stop)


if __name__ == "__main__":
    main()
