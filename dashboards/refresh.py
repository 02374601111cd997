"""One page refresh: controls → checked values → ClickHouse → components, and what a person
sees when a step fails.

Every page's data callback goes through :func:`refresh`. A control that does not check out
(a typo in a custom range, or whatever a hand-made callback request sent) and an unreachable
ClickHouse each become the page's ``blank`` with a message in its status line: every number
cleared, never a traceback, never stale numbers passing for current. Pages say it in the same
words because this is the one place that decides them.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from clickhouse_driver import Client

from dashboards import db
from dashboards.filters import FilterError
from kernel.errors import StorageError

log = logging.getLogger(__name__)

C = TypeVar("C")
T = TypeVar("T")
V = TypeVar("V")

#: The status line's class when the page shows a problem instead of numbers.
ERROR = "status error"


def storage_message(error: object) -> str:
    """What a page says when ClickHouse does not answer, ``error`` being what the driver said."""
    return f"{error}. Is ClickHouse running (`channelhub up`)?"


def refresh(
    page: str,
    check: Callable[[datetime], C],
    fetch: Callable[[Client, C, datetime], T],
    view: Callable[[C, T, datetime], V],
    blank: Callable[[str, datetime, str], V],
    *,
    invalid: tuple[type[Exception], ...] = (FilterError,),
    controls: str = "filters",
) -> V:
    """``check`` the controls (raising one of ``invalid`` when they are wrong), ``fetch`` with
    one ClickHouse client, then ``view``; ``blank(message, now, status_class)`` otherwise.

    ``page`` names the page in the log; ``controls`` names its controls in the message
    ("Check the filters: ...").
    """
    now = datetime.now(UTC)
    try:
        checked = check(now)
    except invalid as e:
        return blank(f"Check the {controls}: {e}", now, ERROR)
    try:
        with db.client(db.request_settings()) as client:
            data = fetch(client, checked, now)
    except StorageError as e:
        log.warning("%s page: %s", page, e)
        return blank(storage_message(e), now, ERROR)
    return view(checked, data, now)
