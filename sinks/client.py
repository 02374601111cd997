"""clickhouse-driver clients built from settings, with driver errors wrapped in ours."""

import re
from collections.abc import Iterator
from contextlib import contextmanager

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError

from kernel.errors import ConfigError, StorageError
from kernel.settings import Settings

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def database_name(settings: Settings) -> str:
    """The database, checked as an identifier: it is the one name spliced into DDL."""
    name = settings.clickhouse_database
    if not _IDENTIFIER.match(name):
        raise ConfigError(
            f"clickhouse_database {name!r} is not a plain identifier (letters, digits, _)"
        )
    return name


def connect(settings: Settings, *, database: bool = True) -> Client:
    """A client on the native port; ``database=False`` for work before the database exists."""
    return Client(
        settings.clickhouse_host,
        port=settings.clickhouse_port,
        user=settings.clickhouse_user,
        password=settings.clickhouse_password.get_secret_value(),
        database=database_name(settings) if database else "default",
        connect_timeout=5,
        send_receive_timeout=60,
        settings={"use_numpy": False},
    )


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Re-raise driver and socket errors as :class:`StorageError` saying what we were doing."""
    try:
        yield
    except (DriverError, OSError, EOFError) as e:
        raise StorageError(f"{what}: {e}") from e
