"""The dashboard process's view of the live service catalogue, for pages that label by it.

One :class:`~channelhub.catalogue.follow.Follower` per catalogue topic, read again at most
every ``rules_reload_seconds`` (as every other follower of the catalogue), so a page refresh
usually costs nothing here. Callbacks run on several threads and the follower is not
thread-safe: one thread refreshes while the others keep the names already known rather than
wait behind a broker that is slow to answer. A broker that cannot be reached is logged and the
names in force stay (the static table's until the catalogue was read once): a page labelled
as a minute ago is better than a page that fails.
"""

import logging
import threading
import time

from channelhub.catalogue.follow import Follower
from channelhub.catalogue.store import follower
from dashboards.service_names import STATIC, ServiceNames, names_of
from kernel.errors import ServiceError
from kernel.settings import Settings

log = logging.getLogger(__name__)


class _Followed:
    """One topic's follower, its names and when to read it next."""

    def __init__(self, reader: Follower, every_seconds: float) -> None:
        self.reader = reader
        self.every_seconds = every_seconds
        self.names = STATIC
        #: The catalogue the names are of, and its version (a topic read anew is a new one).
        self.read: tuple[int, int] = (0, -1)
        self.due = 0.0
        self.lock = threading.Lock()

    def current(self) -> ServiceNames:
        if time.monotonic() < self.due or not self.lock.acquire(blocking=False):
            return self.names
        try:
            self.due = time.monotonic() + self.every_seconds
            catalogue = self.reader.refresh()
            if (id(catalogue), catalogue.version) != self.read:
                self.names, self.read = names_of(catalogue), (id(catalogue), catalogue.version)
        except ServiceError as e:
            log.warning("service catalogue not refreshed, the pages keep its names: %s", e)
        finally:
            self.lock.release()
        return self.names


_followed: dict[tuple[str, str], _Followed] = {}
_creating = threading.Lock()


def names(settings: Settings) -> ServiceNames:
    """What codes and functions stand for now, by ``settings``' catalogue."""
    key = (settings.kafka_bootstrap, settings.topic_catalogue)
    with _creating:
        followed = _followed.get(key)
        if followed is None:
            reader = follower(settings, "channelhub-dashboard-names")
            followed = _followed[key] = _Followed(reader, settings.rules_reload_seconds)
    return followed.current()
