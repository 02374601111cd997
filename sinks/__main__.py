"""``python -m sinks``: run the ClickHouse sink with settings from the environment.

The stage (:mod:`sinks.stage`) runs in a plain ``mode`` worker, which owns the event loop and
stops the stage on SIGTERM or SIGINT, so what it holds is written and committed before the
process exits. Unlike the stream workers it serves no web port: ``channelhub up`` watches the
process itself, and several sinks of one group may run side by side.
"""

from mode import Worker

from kernel import startup
from sinks.stage import SinkStage


def main() -> None:
    settings = startup.start("sink", "pseudonym_key")
    worker = Worker(SinkStage(settings), override_logging=False, quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
