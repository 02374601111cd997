"""Logging set up once per process, in one format, so the logs of every service read alike,
and with no subscriber number in any line.

:func:`scrub_records` replaces the process's log-record factory, so every record made by any
library (ours, faust and mode, aiokafka, clickhouse-driver, Flask) carries its message with
subscriber numbers already replaced by their pseudonym tokens (:mod:`kernel.scrub`), or by
``msisdn:redacted`` in a process that is not given the pseudonym key, and its traceback text
likewise. A record is scrubbed where it is made, before any handler or
formatter sees it, which is why this works under faust's own log handlers too.
"""

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from kernel.pseudonym import Pseudonymizer
from kernel.scrub import scrub
from kernel.settings import Settings


def configure(settings: Settings, service: str = "channelhub", *, keyed: bool = False) -> None:
    """Send records to stderr as ``time level service logger: message``, numbers scrubbed."""
    scrub_records(settings, keyed=keyed)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S",
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for noisy in ("kafka", "aiokafka", "faust", "mode", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # The driver logs every refused connection with a traceback; our errors say it in a line.
    logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)


def scrub_records(settings: Settings, *, keyed: bool = False) -> None:
    """Make every log record of this process scrub its message and traceback, and send
    uncaught exceptions (of the main thread and any other) through logging, so their
    tracebacks are scrubbed too instead of going raw to stderr."""
    if keyed:
        logging.setLogRecordFactory(_factory(Pseudonymizer.from_settings(settings).scrub))
    else:
        logging.setLogRecordFactory(_factory(lambda text: scrub(text, _redacted)))
    uncaught = logging.getLogger("uncaught")
    sys.excepthook = lambda kind, error, tb: uncaught.critical(
        "uncaught exception", exc_info=(kind, error, tb)
    )
    threading.excepthook = lambda args: uncaught.critical(
        "uncaught exception in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=args.exc_value,
    )


def _redacted(_msisdn: str) -> str:
    return "redacted"


def _factory(scrub: Callable[[str], str]) -> Callable[..., logging.LogRecord]:
    """Records whose message is formatted and scrubbed already; ``args`` is left an empty
    tuple (not None), which every formatter, mode's included, treats as nothing to format."""

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = logging.LogRecord(*args, **kwargs)
        try:
            record.msg, record.args = scrub(record.getMessage()), ()
        except Exception as e:  # a broken %-format must not lose the record
            record.msg, record.args = scrub(f"{record.msg!r} (unformattable: {e})"), ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)).rstrip())
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return record

    return make
