"""Numbered, idempotent ClickHouse migrations: ``channelhub migrate``.

Each migration is a module ``NNNN_what.py`` in this package with an ``OPERATIONS`` tuple of
statements (``{db}`` stands for the database). Applied migrations are recorded in
``schema_migrations``; every statement is also idempotent on its own (``IF NOT EXISTS``), so a
migration interrupted half-way simply runs again.

A table or view new to the registry gets its migration from :func:`write_missing`
(``channelhub migrate --new``): one module per table that no migration creates yet, applying
its CREATE statements as the table object renders them. A change to an existing table is an
``ALTER`` written by hand in a new module.
"""

import importlib
import logging
import re
from pathlib import Path

from kernel.settings import Settings
from sinks.client import connect, database_name, storage_errors

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+$")

CREATE_LOG = """
CREATE TABLE IF NOT EXISTS {db}.schema_migrations (name String, applied_at DateTime('UTC'))
ENGINE = MergeTree() ORDER BY name
"""


def available() -> list[str]:
    """Migration module names in order; numbers must be unique."""
    names = sorted(p.stem for p in Path(__file__).parent.glob("[0-9]*.py"))
    numbers = [_NAME.match(n).group(1) for n in names if _NAME.match(n)]  # type: ignore[union-attr]
    if len(numbers) != len(names) or len(set(numbers)) != len(numbers):
        raise RuntimeError(f"migration names must be unique NNNN_snake_case: {names}")
    return names


def operations(name: str) -> tuple[str, ...]:
    return importlib.import_module(f"{__name__}.{name}").OPERATIONS  # type: ignore[no-any-return]


def uncreated() -> list[str]:
    """The tables and views (registry order) whose CREATE statements no migration applies."""
    from sinks.migrations.statements import creates, names

    applied = {s for name in available() for s in operations(name)}
    return [name for name in names() if not set(creates(name)) <= applied]


def write_missing(directory: Path = Path(__file__).parent) -> list[Path]:
    """Write ``NNNN_<table>.py`` for each table of :func:`uncreated`, numbered after the last
    migration; return the files written."""
    last = max((int(name[:4]) for name in available()), default=0)
    written = []
    for number, name in enumerate(uncreated(), start=last + 1):
        path = directory / f"{number:04d}_{name}.py"
        path.write_text(
            f'"""Create ``{name}``, new in the contract registry."""\n\n'
            "from sinks.migrations.statements import creates\n\n"
            f'OPERATIONS: tuple[str, ...] = creates("{name}")\n',
            encoding="utf-8",
        )
        written.append(path)
    return written


def migrate(settings: Settings) -> list[str]:
    """Create the database if needed and apply pending migrations; return those applied."""
    db = database_name(settings)
    client = connect(settings, database=False)
    applied_now: list[str] = []
    with storage_errors(f"cannot migrate ClickHouse database {db!r}"):
        client.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
        client.execute(CREATE_LOG.format(db=db))
        done = {n for (n,) in client.execute(f"SELECT name FROM {db}.schema_migrations")}
        for name in available():
            if name in done:
                continue
            for statement in operations(name):
                client.execute(statement.format(db=db))
            client.execute(
                f"INSERT INTO {db}.schema_migrations (name, applied_at) SELECT %(name)s, now()",
                {"name": name},
            )
            log.info("applied migration %s", name)
            applied_now.append(name)
    client.disconnect()
    return applied_now
