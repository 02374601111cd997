"""Hand one Settings object to a child process, through the environment it reads at start.

Every service reads its settings once from ``CHANNELHUB_*`` variables; writing all fields (not
only the ones that differ from the defaults) keeps a child from silently picking up a stray
variable or ``.env`` value that the parent did not mean.
"""

from enum import Enum
from pathlib import Path

import msgspec
from pydantic import BaseModel, SecretStr

from kernel.settings import Settings

ENV_PREFIX = "CHANNELHUB_"
#: How an unset optional field travels (the settings read it back as None).
NONE = "null"


def _plain(value: object) -> object:
    """``value`` with every secret in clear and every model a dict, for JSON."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return {name: _plain(v) for name, v in value}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _encode(value: object) -> str:
    if value is None:
        return NONE
    if isinstance(value, dict | list | tuple | BaseModel):
        # What pydantic-settings parses a complex field from: JSON.
        return msgspec.json.encode(_plain(value)).decode()
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        # Children may run in another working directory: give them the same place.
        return str(value.resolve())
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def settings_env(settings: Settings) -> dict[str, str]:
    """Every field of ``settings`` as ``CHANNELHUB_<FIELD>`` → string, secrets in clear."""
    return {
        f"{ENV_PREFIX}{name.upper()}": _encode(getattr(settings, name))
        for name in type(settings).model_fields
    }
