"""How every channelhub process starts: settings read once, secrets checked, logs set up.

A process that cannot start says why in one line on stderr, ``<service>: <what to fix>``, and
exits with status 2: a setting that does not parse names its environment variable, and a weak
secret outside development says which one and how to make a good one.
"""

import sys
from typing import NoReturn

from pydantic import ValidationError

from kernel import logs
from kernel.errors import ConfigError
from kernel.settings import SecretName, Settings


def start(service: str, *secrets: SecretName, configure_logs: bool = True) -> Settings:
    """The process's settings, the ``secrets`` it uses checked, and its logs configured
    (``configure_logs=False`` for faust workers, which install their own handlers but get
    scrubbed records all the same). A process that uses the pseudonym key writes numbers in
    its logs as their pseudonym tokens; any other never holds the key and redacts them."""
    try:
        settings = Settings()
        settings.refuse_weak_secrets(*secrets)
    except ValidationError as e:
        refuse(service, f"invalid settings: {problems(e)}")
    except ConfigError as e:
        refuse(service, str(e))
    keyed = "pseudonym_key" in secrets
    if configure_logs:
        logs.configure(settings, service=service, keyed=keyed)
    else:
        logs.scrub_records(settings, keyed=keyed)
    return settings


def problems(error: ValidationError) -> str:
    """Each problem of ``error`` as ``CHANNELHUB_<FIELD>: message``."""
    return "; ".join(
        (f"CHANNELHUB_{'_'.join(map(str, err['loc'])).upper()}: " if err["loc"] else "")
        + err["msg"]
        for err in error.errors()
    )


def refuse(service: str, why: str) -> NoReturn:
    print(f"{service}: {why}", file=sys.stderr)
    raise SystemExit(2)
