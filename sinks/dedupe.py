"""A bounded memory of the ids a sink has written, and since when it is complete.

Duplicates reach the sink from the stream worker re-producing its uncommitted tail after a
crash, from the sink itself re-reading a batch it wrote but had not committed, and from a
channel system sending an event again, possibly a day later. The first two arrive within
minutes and are dropped by looking the id up here, which costs a set lookup per row and keeps
the materialized views exact.

For the late ones the memory also knows :attr:`RecentIds.complete_since`: every id written
after that time (the ingest time, Unix seconds) is in it. Evicting an id moves it forward to
the eviction's own time. Every stage stamps a record's own time at most the allowed clock skew
after it received it, and a record is written after it is received, so an id missing here can
belong to a row already written only if that row's own time is at most ``complete_since`` plus
the skew; :mod:`sinks.writer` asks ClickHouse about exactly those rows, which on live traffic
are none.
"""

from collections import deque
from collections.abc import Iterable, Sequence
from itertools import groupby


class RecentIds:
    """At most ``capacity`` ids, each with the time it was written, oldest evicted first."""

    def __init__(self, capacity: int, complete_since: float = 0.0) -> None:
        self._capacity = capacity
        self._members: set[str] = set()
        #: (ingest time, ids) in the order written: eviction takes whole groups from the left.
        self._groups: deque[tuple[float, list[str]]] = deque()
        self.complete_since = complete_since

    @classmethod
    def loaded(
        cls, capacity: int, newest_first: Sequence[tuple[str, int]], since: float
    ) -> "RecentIds":
        """The memory of a table read back from ClickHouse: ``newest_first`` holds every id
        ingested at or after ``since`` (newest first), or, when it has more than ``capacity``
        rows, the newest ``capacity`` of them and one more, which tells where it was cut."""
        complete_since = since
        if len(newest_first) > capacity:
            complete_since = float(newest_first[capacity][1])
            newest_first = newest_first[:capacity]
        memory = cls(capacity, complete_since)
        oldest_first = reversed(newest_first)
        for at, group in groupby(oldest_first, key=lambda row: row[1]):
            memory.extend((event_id for event_id, _ in group), float(at))
        return memory

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._members

    def __len__(self) -> int:
        return len(self._members)

    def extend(self, ids: Iterable[str], at: float) -> None:
        """Remember ``ids``, written at ``at``; forget the oldest beyond capacity."""
        fresh = set(ids)
        fresh -= self._members
        if not fresh:
            return
        self._members |= fresh
        self._groups.append((at, list(fresh)))
        excess = len(self._members) - self._capacity
        while excess > 0:
            written, group = self._groups[0]
            self.complete_since = max(self.complete_since, written)
            if len(group) <= excess:
                self._groups.popleft()
                self._members.difference_update(group)
                excess -= len(group)
            else:
                self._members.difference_update(group[:excess])
                self._groups[0] = (written, group[excess:])
                excess = 0
