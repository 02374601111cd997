"""The send journal: a crash anywhere around a submission never sends a part twice.

Crashes are real: the dispatcher's core runs in a forked child that the fake gateway ends with
``os._exit`` right after taking a part (the kernel closes its files, unflushed entries are
lost), and the parent opens the same journal as the restarted dispatcher would.
"""

import asyncio
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestration.dispatch import Outcome, ReliableSender, SendJournal
from orchestration.dispatch import journal as journal_module
from orchestration.dispatch.gateway import (
    UNKNOWN_AFTER_CRASH,
    UNKNOWN_AFTER_LOST_ANSWER,
    PartAccepted,
    PartInDoubt,
)
from orchestration.dispatch.journal import JournalError
from schemas.nudges import DecidedNudge, Dispatch
from streams.dispatch_core import BatchSender, Recipients
from tests.dispatch.gateways import FakeGateway, taken
from tests.dispatch.nudges import approved

DAY = 86_400.0
LONG = "尊敬的客户 " + "您本月的话费账单已出 详情请登录网上营业厅查询 " * 4  # two UCS-2 parts


async def dispatch_once(
    path: Path, gateway: FakeGateway, nudges: list[DecidedNudge]
) -> tuple[list[Dispatch], Counter[str]]:
    """What the dispatcher does with one chunk of partition 0: open its journal, send, close."""
    journal = await SendJournal.open(path, retention_seconds=DAY)
    try:
        sender = ReliableSender(gateway, deadline=1, initial_backoff=0.01)
        batches = BatchSender(sender, concurrency=32, recipients=Recipients())
        settled = await batches.send({0: [(i, n) for i, n in enumerate(nudges)]}, {0: journal})
    finally:
        await journal.close()
    return settled[0].dispatches, batches.counts


def crashing(path: Path, gateway: FakeGateway, nudges: list[DecidedNudge]) -> None:
    """Run :func:`dispatch_once` in a forked child that must die in the gateway."""
    child = multiprocessing.get_context("fork").Process(
        target=lambda: asyncio.run(dispatch_once(path, gateway, nudges))
    )
    child.start()
    child.join(30)
    assert child.exitcode == 9, "the dispatcher was to crash in the gateway"


def test_a_crash_between_intent_and_answer_never_submits_again(tmp_path: Path) -> None:
    journal, log = tmp_path / "journal.jsonl", tmp_path / "gateway.log"
    long, short = approved(1, text=LONG), approved(2)
    crashing(journal, FakeGateway(log=log, crash_at=("n-00001", 1)), [long])

    restarted = FakeGateway(log=log)
    [unknown, sent], counts = asyncio.run(dispatch_once(journal, restarted, [long, short]))
    assert taken(log) == Counter({("n-00001", 0): 1, ("n-00001", 1): 1, ("n-00002", 0): 1})
    assert (unknown.nudge_id, unknown.status) == ("n-00001", "failed")
    assert (unknown.error or "").startswith(f"{UNKNOWN_AFTER_CRASH}: ")
    assert unknown.message_ids == ("m-n-00001.1",)  # the part taken before the crash
    assert (sent.nudge_id, sent.status) == ("n-00002", "sent")
    assert counts[UNKNOWN_AFTER_CRASH] == 1

    [again], counts = asyncio.run(dispatch_once(journal, FakeGateway(log=log), [long]))
    assert again == unknown
    assert counts["from_journal"] == 1


def test_a_settled_nudge_is_produced_again_from_the_journal(tmp_path: Path) -> None:
    journal, log = tmp_path / "journal.jsonl", tmp_path / "gateway.log"
    first, counts = asyncio.run(dispatch_once(journal, FakeGateway(log=log), [approved(1)]))
    crashing(journal, FakeGateway(log=log, crash_at=("n-00002", 0)), [approved(1), approved(2)])

    again, counts = asyncio.run(dispatch_once(journal, FakeGateway(log=log), [approved(1)]))
    assert again == first  # the same record: the same ids and dispatched_at
    assert again[0].status == "sent"
    assert counts == Counter({"from_journal": 1, "sent": 1})
    assert taken(log) == Counter({("n-00001", 0): 1, ("n-00002", 0): 1})


def test_a_part_the_gateway_did_not_take_is_submitted_after_the_restart(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    down = FakeGateway(down={"n-00001"})
    [], _ = asyncio.run(dispatch_once(journal, down, [approved(1)]))  # given back
    up = FakeGateway()
    [sent], _ = asyncio.run(dispatch_once(journal, up, [approved(1)]))
    assert sent.status == "sent"
    assert up.accepted == Counter({"n-00001": 1})


def test_an_answer_lost_in_this_run_is_in_doubt_too() -> None:
    async def scenario() -> tuple[object, object]:
        ledger = journal_module.SendLedger()
        await ledger.intend("n", 0)
        lost = ledger.prior("n", 0)
        ledger.accepted("n", 1, ("m-2",))
        return lost, ledger.prior("n", 1)

    assert asyncio.run(scenario()) == (
        PartInDoubt(UNKNOWN_AFTER_LOST_ANSWER),
        PartAccepted(("m-2",)),
    )


def test_a_torn_last_line_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"

    async def write() -> None:
        journal = await SendJournal.open(path, retention_seconds=DAY)
        await journal.intend("n-1", 0)
        journal.accepted("n-1", 0, ("m-1",))
        await journal.close()

    asyncio.run(write())
    with path.open("ab") as f:
        f.write(b'{"entry":"intent","nudge_id":"n-2","pa')  # the crash hit mid-write

    async def reopen() -> tuple[object, object]:
        journal = await SendJournal.open(path, retention_seconds=DAY)
        try:
            assert b"n-2" not in path.read_bytes()  # cut off (and the file compacted)
            await journal.intend("n-3", 0)
            return journal.prior("n-1", 0), journal.prior("n-2", 0)
        finally:
            await journal.close()

    assert asyncio.run(reopen()) == (PartAccepted(("m-1",)), None)

    async def once_more() -> object:
        journal = await SendJournal.open(path, retention_seconds=DAY)
        await journal.close()
        return journal.prior("n-3", 0)

    assert asyncio.run(once_more()) == PartInDoubt(UNKNOWN_AFTER_CRASH)


def test_a_damaged_line_before_the_last_one_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"entry":"intent"\n{"entry":"intent","nudge_id":"n","part":0,"t":1.0}\n')
    with pytest.raises(JournalError, match="line 1"):
        asyncio.run(SendJournal.open(path, retention_seconds=DAY))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_compaction_keeps_what_is_needed_and_forgets_the_rest(tmp_path: Path) -> None:
    path, clock = tmp_path / "journal.jsonl", Clock()

    def outcome(nudge_id: str) -> Outcome:
        at = datetime.fromtimestamp(clock.now, UTC)
        return Outcome(nudge_id=nudge_id, status="sent", gateway="fake", message_ids=("m",), at=at)

    async def open_journal() -> SendJournal:
        return await SendJournal.open(path, retention_seconds=DAY, clock=clock)

    async def scenario() -> tuple[SendJournal, int]:
        journal = await open_journal()
        await journal.intend("old", 0)
        journal.accepted("old", 0, ("m",))
        journal.finish(outcome("old"))
        clock.now += DAY + 1  # "old" is now past the retention
        await journal.intend("settled", 0)
        journal.accepted("settled", 0, ("m",))
        journal.finish(outcome("settled"))
        await journal.intend("open", 0)
        journal.accepted("open", 0, ("m-1",))
        await journal.intend("open", 1)
        await journal.intend("refused", 0)
        journal.not_taken("refused", 0)
        await journal.sync()
        before = journal.lines
        await journal.compact()
        await journal.close()
        return await open_journal(), before

    journal, before = asyncio.run(scenario())
    try:
        assert (before, journal.lines) == (11, 3)
        assert len(path.read_bytes().splitlines()) == 3
        assert journal.prior("old", 0) is None
        assert journal.outcome("settled") == outcome("settled")
        assert journal.prior("open", 0) == PartAccepted(("m-1",))
        assert journal.prior("open", 1) == PartInDoubt(UNKNOWN_AFTER_CRASH)
        assert journal.prior("refused", 0) is None
    finally:
        asyncio.run(journal.close())


def test_the_intents_of_a_chunk_share_an_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[int] = []
    real: Callable[[int], None] = os.fdatasync

    def counted(fd: int) -> None:
        syncs.append(fd)
        real(fd)

    monkeypatch.setattr(journal_module.os, "fdatasync", counted)
    nudges = [approved(i) for i in range(32)]
    dispatches, _ = asyncio.run(dispatch_once(tmp_path / "journal.jsonl", FakeGateway(), nudges))
    assert [d.status for d in dispatches] == ["sent"] * 32
    assert len(syncs) <= 3  # the intents (once or twice), then the answers and outcomes


def test_a_dispatcher_stopped_longer_than_the_retention_forgets_nothing(tmp_path: Path) -> None:
    path, clock = tmp_path / "journal.jsonl", Clock()

    async def scenario() -> object:
        journal = await SendJournal.open(path, retention_seconds=DAY, clock=clock)
        await journal.intend("in-flight", 0)
        await journal.close()
        clock.now += 30 * DAY  # stopped for a month: the journal's own time stood still
        journal = await SendJournal.open(path, retention_seconds=DAY, clock=clock)
        await journal.compact()
        await journal.close()
        return journal.prior("in-flight", 0)

    assert asyncio.run(scenario()) == PartInDoubt(UNKNOWN_AFTER_CRASH)
