"""The CREATE statements a migration applies, named by table: taken from the table objects, so
a migration and the table it makes cannot disagree."""

from sinks.routes import TABLES, VIEWS


def creates(*names: str) -> tuple[str, ...]:
    """Every CREATE statement of the tables and views ``names``, in that order."""
    return tuple(s for name in names for s in (TABLES.get(name) or VIEWS[name]).create_statements)


def fills(*names: str) -> tuple[str, ...]:
    """Every statement that fills the aggregate tables ``names`` from the rows already
    stored, in that order."""
    return tuple(s for name in names for s in VIEWS[name].fill_statements)


def names() -> list[str]:
    """Every table, then every view, the registry's routes name."""
    return [*TABLES, *VIEWS]
