"""A bounded memory of the ids a sink has written recently.

Duplicates reach the sink from two places: the stream worker re-producing its uncommitted tail
after a crash, and the sink itself re-reading a batch it wrote but had not committed. Both
arrive on the same partition within minutes of the original, so remembering the last N ids
(reloaded from ClickHouse when partitions are assigned) catches them before they are inserted,
which keeps the materialized views exact. ReplacingMergeTree stays the backstop for anything
older.
"""

from collections import deque
from collections.abc import Iterable


class RecentIds:
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._order: deque[str] = deque()
        self._members: set[str] = set()

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._members

    def __len__(self) -> int:
        return len(self._members)

    def extend(self, ids: Iterable[str]) -> None:
        for event_id in ids:
            if event_id not in self._members:
                self._members.add(event_id)
                self._order.append(event_id)
        while len(self._order) > self._capacity:
            self._members.discard(self._order.popleft())
