"""The stage runtime's fetch loop against a scripted consumer: which batches reach the fold
when a rebalance comes between fetching and folding, and which commits follow.

A fake consumer stands in for aiokafka here (a unit test); the real rebalances are in the
fault suite (``tests/faults``), where workers join and leave under traffic.
"""

import asyncio
from collections.abc import Awaitable, Callable

from aiokafka import ConsumerRecord, TopicPartition

from streams.acks import Offsets
from streams.runtime import Acks, BatchStage, Fetched
from tests.fixtures.services import local_settings

TP = TopicPartition("t", 0)


def _batch(first: int, n: int) -> Fetched:
    return {
        TP: [
            ConsumerRecord("t", 0, offset, 0, 0, None, b"v", None, 1, 1, [])
            for offset in range(first, first + n)
        ]
    }


Hook = Callable[[], Awaitable[None]]


class _Consumer:
    """Hands out scripted batches; ``before_return`` runs inside getmany, just before it
    returns its batch."""

    def __init__(self, script: list[tuple[Fetched, Hook | None]]) -> None:
        self.script = script
        self.committed: list[Offsets] = []
        self.done = asyncio.Event()

    async def getmany(self, timeout_ms: int, max_records: int) -> Fetched:
        if not self.script:
            self.done.set()
            await asyncio.sleep(3600)
        fetched, before_return = self.script.pop(0)
        if before_return is not None:
            await before_return()
        return fetched

    async def commit(self, offsets: Offsets) -> None:
        self.committed.append(offsets)


class _Stage(BatchStage):
    stage = "test"

    def __init__(self) -> None:
        super().__init__(local_settings())
        self.folded: list[list[int]] = []
        self.rebalances: list[asyncio.Task[None]] = []

    def topics(self) -> list[str]:
        return ["t"]

    async def fold(self, fetched: Fetched) -> tuple[Acks, Offsets]:
        records = fetched[TP]
        self.folded.append([r.offset for r in records])
        return [], {TP: records[-1].offset + 1}


async def _run(stage: _Stage, consumer: _Consumer) -> None:
    stage._consumer = consumer  # type: ignore[assignment]
    loop = asyncio.create_task(BatchStage._fetch_loop(stage))  # a mode ServiceTask
    await asyncio.wait_for(consumer.done.wait(), 5)
    await stage._in_flight.drain()
    loop.cancel()


def _between_fetch_and_fold(stage: _Stage, revoked: set[TopicPartition]) -> Hook:
    """A rebalance that takes the lock after getmany returned and before the fold: something
    holds the lock (a rule reload, say) while the rebalance queues for it, and getmany
    returns meanwhile, so the fold queues behind the rebalance."""

    async def hook() -> None:
        await stage._lock.acquire()
        stage.rebalances.append(asyncio.create_task(stage._revoked(revoked)))
        await asyncio.sleep(0)
        asyncio.get_running_loop().call_soon(stage._lock.release)

    return hook


def _during_fetch(stage: _Stage, revoked: set[TopicPartition]) -> Hook:
    """A rebalance completed while getmany waited: what it returns is the new assignment's."""

    async def hook() -> None:
        await stage._revoked(revoked)

    return hook


def _folded(script: Callable[[_Stage], list[tuple[Fetched, Hook | None]]]) -> list[list[int]]:
    async def scenario() -> list[list[int]]:
        stage = _Stage()
        consumer = _Consumer(script(stage))
        await _run(stage, consumer)
        assert consumer.committed == [{TP: offsets[-1] + 1} for offsets in stage.folded]
        return stage.folded

    return asyncio.run(scenario())


def test_a_batch_fetched_before_a_rebalance_is_left_to_the_partitions_next_owner() -> None:
    folded = _folded(lambda stage: [
        (_batch(0, 3), None),
        (_batch(3, 2), _between_fetch_and_fold(stage, {TP})),
        (_batch(3, 4), None),  # aiokafka reads the partition again from its commit
    ])  # fmt: skip
    assert folded == [[0, 1, 2], [3, 4, 5, 6]]


def test_a_batch_fetched_after_a_rebalance_is_folded() -> None:
    folded = _folded(lambda stage: [
        (_batch(0, 3), _during_fetch(stage, set())),  # the first join revokes nothing
        (_batch(3, 2), _during_fetch(stage, {TP})),
        (_batch(5, 1), None),
    ])  # fmt: skip
    assert folded == [[0, 1, 2], [3, 4], [5]]


def test_a_rebalance_that_revokes_nothing_drops_nothing() -> None:
    folded = _folded(lambda stage: [
        (_batch(0, 3), _between_fetch_and_fold(stage, set())),
        (_batch(3, 1), None),
    ])  # fmt: skip
    assert folded == [[0, 1, 2], [3]]
