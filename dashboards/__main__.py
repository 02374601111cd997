"""``python -m dashboards``: serve the app on ``dashboard_host:dashboard_port``.

Settings come from the environment (``CHANNELHUB_*``) here and nowhere else. The server is
Flask's threaded one with debug off: no reloader, no in-browser debugger, no tracebacks to
clients. Behind a reverse proxy that is enough for the handful of people who watch these
pages; a WSGI server can serve ``create_app(settings).server`` unchanged if that changes.
"""

import logging

from dashboards.app import create_app
from kernel import startup


def main() -> None:
    settings = startup.start("dashboard", "dashboard_secret_key")
    # The driver logs a full traceback for every refused connection; the page reports those.
    logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    app = create_app(settings)
    logging.getLogger(__name__).info("serving %s", settings.dashboard_url)
    app.run(host=settings.dashboard_host, port=settings.dashboard_port, debug=False)


if __name__ == "__main__":
    main()
