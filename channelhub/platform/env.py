"""Hand one Settings object to a child process, through the environment it reads at start.

Every service reads its settings once from ``CHANNELHUB_*`` variables; writing all fields (not
only the ones that differ from the defaults) keeps a child from silently picking up a stray
variable or ``.env`` value that the parent did not mean.
"""

from enum import Enum
from pathlib import Path

from pydantic import SecretStr

from kernel.settings import Settings

ENV_PREFIX = "CHANNELHUB_"
#: How an unset optional field travels (the settings read it back as None).
NONE = "null"


def _encode(value: object) -> str:
    if value is None:
        return NONE
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
