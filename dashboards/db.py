"""ClickHouse clients for the dashboard, and the settings the running app was built with.

A client per callback rather than one shared: clickhouse-driver clients are not thread-safe,
Flask serves callbacks from several threads, and a local connect costs well under a
millisecond. The client signs in as ``dashboard_clickhouse_user``, whose server profile is
read-only and carries the query time limit (a readonly user may not set one per query), so a
heavy range cannot pile up behind the live refresh and nothing here can write.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import flask
from clickhouse_driver import Client

from kernel.settings import Settings
from sinks.client import database_name, storage_errors

#: Where :func:`dashboards.app.create_app` keeps the settings in the Flask config.
SETTINGS_KEY = "CHANNELHUB_SETTINGS"


def request_settings() -> Settings:
    """The settings of the app serving the current request (callbacks run inside one)."""
    settings: Settings = flask.current_app.config[SETTINGS_KEY]
    return settings


@contextmanager
def client(settings: Settings) -> Iterator[Client]:
    """A connected-on-demand client on ``settings``' database, disconnected afterwards.

    Driver and socket errors inside the block become :class:`~kernel.errors.StorageError`
    naming the server, so the page can say what is unreachable instead of showing a traceback.
    """
    where = (
        f"ClickHouse at {settings.clickhouse_host}:{settings.clickhouse_port} "
        f"(database {settings.clickhouse_database!r}, user "
        f"{settings.dashboard_clickhouse_user!r})"
    )
    with storage_errors(f"cannot query {where}"):
        connection = Client(
            settings.clickhouse_host,
            port=settings.clickhouse_port,
            user=settings.dashboard_clickhouse_user,
            password=settings.dashboard_clickhouse_password.get_secret_value(),
            database=database_name(settings),
            connect_timeout=3,
            send_receive_timeout=settings.dashboard_query_seconds + 5,
        )
        try:
            yield connection
        finally:
            connection.disconnect()
