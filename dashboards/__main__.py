"""``python -m dashboards``: serve the app on ``dashboard_host:dashboard_port`` under gunicorn.

Settings come from the environment (``CHANNELHUB_*``) here and nowhere else. The same
production WSGI server runs locally and in the deployment: ``dashboard_workers`` processes
(eight threads in each), forked from a master that built the app once and restarts a worker
that dies or hangs; Flask's own server is never used. Sessions and sign-in failures are kept where
every worker sees them (:mod:`dashboards.access`).
"""

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

from dashboards.app import create_app
from kernel import startup


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    """gunicorn with its settings given here instead of read from a command line."""

    def __init__(self, application: Any, options: dict[str, Any]) -> None:
        self.application = application
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.application


def main() -> None:
    settings = startup.start("dashboard", "dashboard_secret_key")
    # The driver logs a full traceback for every refused connection; the page reports those.
    logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    server = create_app(settings).server
    logging.getLogger(__name__).info(
        "serving %s with %d workers", settings.dashboard_url, settings.dashboard_workers
    )
    _Gunicorn(
        server,
        {
            "bind": f"{settings.dashboard_host}:{settings.dashboard_port}",
            "workers": settings.dashboard_workers,
            "worker_class": "gthread",
            "threads": 8,
            "timeout": 60,
            "graceful_timeout": 5,
            "preload_app": True,
            "accesslog": None,
            "loglevel": settings.log_level.lower(),
            "proc_name": "channelhub-dashboard",
        },
    ).run()


if __name__ == "__main__":
    main()
