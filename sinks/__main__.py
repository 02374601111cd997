"""``python -m sinks``: run the ClickHouse sink with settings from the environment."""

from channelhub import logs
from channelhub.settings import Settings
from sinks.writer import Sink


def main() -> None:
    settings = Settings()
    logs.configure(settings.log_level, service="sink")
    Sink(settings).run()


if __name__ == "__main__":
    main()
