"""Versioned TOML files people write (rules, campaigns): read, version-checked and decoded,
with every problem reported as (file, item id, field, problem).

TOML because these files are written and reviewed by people: comments explain thresholds,
there is no indentation to get wrong, and Python reads it with the standard library.
"""

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import msgspec

from kernel.errors import ConfigError

T = TypeVar("T")
#: Builds the caller's error from (file, item id, field, problem).
ErrorFactory = Callable[[str, str, str, str], ConfigError]

_MSGSPEC_FIELD = re.compile(r"^Object (?:missing required|contains unknown) field `([^`]+)`")


def load_versioned(
    path: Path, *, table: str, schema: type[T], version: int, unknown: str, error: ErrorFactory
) -> T:
    """Decode ``path`` into ``schema`` (a struct with ``version`` and ``table``).

    The item id for messages is ``[table].id`` when the file gets that far, else ``unknown``;
    a format version other than ``version`` is refused before the rest is read, so an old
    reader never misreads a newer file.
    """
    file = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise error(file, unknown, "<file>", f"cannot read it as TOML: {e}") from e
    section = raw.get(table)
    named = section.get("id") if isinstance(section, dict) else None
    item = named if isinstance(named, str) else unknown
    found = raw.get("version")
    if found != version or isinstance(found, bool):
        raise error(
            file,
            item,
            "version",
            f"format version {found!r} is not supported; this channelhub reads version = {version}",
        )
    try:
        return msgspec.convert(raw, schema)
    except msgspec.ValidationError as e:
        field, problem = explain(str(e))
        raise error(file, item, field, problem) from e


def explain(message: str) -> tuple[str, str]:
    """msgspec's ``problem - at `$.rule.delay_s``` as (``rule.delay_s``, problem)."""
    problem, _, path = message.partition(" - at `")
    field = path.rstrip("`").removeprefix("$").removeprefix(".")
    named = _MSGSPEC_FIELD.match(problem)
    if named:
        field = f"{field}.{named[1]}" if field else named[1]
    return field or "<file>", problem
