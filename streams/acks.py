"""Produced but not yet acknowledged: batches in flight, committed strictly in order.

A stage produces a batch's records, and may commit the batch's input offsets only once the
broker has acknowledged every one of them. Waiting for those acknowledgements before fetching
the next batch makes every batch pay the broker's round trip (on Tansu, tens of
milliseconds) on top of its own work; :class:`InFlight` lets the stage fold the next batch
meanwhile. Commits still happen one batch at a time, in fetch order, each after its own
acknowledgements and its predecessor's commit, so a committed offset never runs ahead of an
unacknowledged record. At most ``depth`` batches wait; a failed send surfaces at the next
:meth:`InFlight.add` or :meth:`InFlight.drain`, which raise it, stopping the stage before
anything later is committed.
"""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import TopicPartition

Offsets = dict[TopicPartition, int]


class InFlight:
    """The stage's batches between "produced" and "committed"."""

    def __init__(self, commit: Callable[[Offsets], Awaitable[None]], *, depth: int = 3) -> None:
        self._commit = commit
        self._depth = depth
        self._batches: deque[asyncio.Task[None]] = deque()

    async def add(self, acks: Sequence[Awaitable[object]], offsets: Offsets) -> None:
        """Commit ``offsets`` once ``acks`` and every earlier batch are done; wait only if
        ``depth`` batches are already in flight."""
        previous = self._batches[-1] if self._batches else None
        self._batches.append(asyncio.ensure_future(self._settle(acks, offsets, previous)))
        while self._batches and (len(self._batches) > self._depth or self._batches[0].done()):
            await self._batches.popleft()  # raises the batch's failure, if any

    async def drain(self) -> None:
        """Wait for every batch in flight to be committed (before partitions move)."""
        while self._batches:
            await self._batches.popleft()

    async def _settle(
        self,
        acks: Sequence[Awaitable[object]],
        offsets: Offsets,
        previous: asyncio.Task[None] | None,
    ) -> None:
        await asyncio.gather(*acks)
        if previous is not None:
            await asyncio.shield(previous)
        if offsets:
            await self._commit(offsets)
