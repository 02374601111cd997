"""SmppGateway end to end against a real SMSC process (the npm ``smpp`` server) on 127.0.0.1."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from channelhub.platform.process import ManagedProcess
from orchestration.dispatch import (
    DeliveryReceipt,
    GatewayReport,
    InboundReply,
    InDoubtError,
    OutboundSms,
    ReliableSender,
    RetryableGatewayError,
    SmppGateway,
)
from orchestration.dispatch.encoding import concat_reference
from orchestration.dispatch.gateway import UNKNOWN_AFTER_LOST_ANSWER
from tests.fixtures.services import free_port, start_process
from tests.orchestration.smpp_server import smsc_spec, submits

pytestmark = pytest.mark.integration

CHINESE = "".join(chr(0x4E00 + (i * 37) % 20000) for i in range(150))
REPLY = "满意 5"


class Smsc:
    def __init__(self, port: int, log: Path, process: ManagedProcess) -> None:
        self.port, self.log, self.process = port, log, process


@pytest.fixture
def smsc(tmp_path: Path) -> Iterator[Smsc]:
    port = free_port()
    log = tmp_path / "submits.jsonl"
    process = start_process(smsc_spec(port, log, REPLY), tmp_path)
    yield Smsc(port, log, process)
    process.stop()


def gateway(port: int, reports: asyncio.Queue[GatewayReport]) -> SmppGateway:
    return SmppGateway(
        "127.0.0.1",
        port,
        system_id="channelhub",
        password="secret",
        timeout=3.0,
        on_report=reports.put_nowait,
    )


async def collect(reports: asyncio.Queue[GatewayReport], n: int) -> list[GatewayReport]:
    return [await asyncio.wait_for(reports.get(), 10) for _ in range(n)]


def test_chinese_long_sms_receipts_and_reply(smsc: Smsc) -> None:
    message = OutboundSms(nudge_id="n-cn", msisdn="13800000001", text=CHINESE)

    async def scenario() -> tuple[list[str], list[GatewayReport]]:
        reports: asyncio.Queue[GatewayReport] = asyncio.Queue()
        smpp = gateway(smsc.port, reports)
        try:
            result = await smpp.send(message)
            return list(result.message_ids), await collect(reports, 4)
        finally:
            await smpp.close()

    message_ids, reports = asyncio.run(scenario())
    got = submits(smsc.log)
    ref = f"{concat_reference('n-cn'):02x}"
    assert [s["udh"] for s in got] == [f"0003{ref}03{seq:02x}" for seq in (1, 2, 3)]
    assert {(s["data_coding"], s["esm_class"], s["registered_delivery"]) for s in got} == {
        (8, 0x40, 1)
    }
    assert {(s["source_addr"], s["destination_addr"]) for s in got} == {("10086", "13800000001")}
    assert "".join(s["text"] for s in got) == CHINESE
    assert message_ids == [s["message_id"] for s in got]

    receipts = [r for r in reports if isinstance(r, DeliveryReceipt)]
    assert sorted(r.message_id for r in receipts) == sorted(message_ids)
    assert {(r.nudge_id, r.status) for r in receipts} == {("n-cn", "delivered")}
    replies = [r for r in reports if isinstance(r, InboundReply)]
    assert [(r.msisdn, r.to, r.text) for r in replies] == [("13800000001", "10086", REPLY)]


def test_gsm7_single_sms(smsc: Smsc) -> None:
    message = OutboundSms(nudge_id="n-en", msisdn="13900000002", text="Text 0101 to 10086")

    async def scenario() -> None:
        smpp = gateway(smsc.port, asyncio.Queue())
        try:
            await smpp.send(message)
        finally:
            await smpp.close()

    asyncio.run(scenario())
    [got] = submits(smsc.log)
    assert (got["data_coding"], got["esm_class"], got["udh"]) == (0, 0, "")
    assert got["text"] == message.text


def test_smsc_down_then_back_retries_without_duplicates(smsc: Smsc) -> None:
    first = OutboundSms(nudge_id="n-1", msisdn="13800000001", text=CHINESE)
    second = OutboundSms(nudge_id="n-2", msisdn="13800000002", text=CHINESE[:100])

    async def scenario() -> ReliableSender:
        smpp = gateway(smsc.port, asyncio.Queue())
        sender = ReliableSender(smpp, deadline=30, initial_backoff=0.2, max_backoff=1.0)
        try:
            await sender.send(first)
            await asyncio.to_thread(smsc.process.stop)
            with pytest.raises(RetryableGatewayError):
                await smpp.send(second)
            restart = asyncio.create_task(asyncio.to_thread(start_after, 1.5, smsc.process))
            await sender.send(second)  # backs off until the SMSC is back
            await restart
            await sender.send(second)
            await sender.send(first)
            return sender
        finally:
            await smpp.close()

    sender = asyncio.run(scenario())
    got = submits(smsc.log)
    assert [s["destination_addr"] for s in got] == ["13800000001"] * 3 + ["13800000002"] * 2
    assert len({s["pid"] for s in got}) == 2  # before and after the restart
    assert sender.attempts >= 3  # n-1 once; n-2 failed at least once, then succeeded


def test_smsc_dying_mid_message_submits_no_part_twice(tmp_path: Path) -> None:
    """Part 1 is answered, part 2 is written and never answered: the SMSC may have taken it,
    so neither it nor part 1 is submitted again, even to an SMSC that is back."""
    port, log = free_port(), tmp_path / "submits.jsonl"
    dying = start_process(smsc_spec(port, log, exit_after=1), tmp_path / "dying")
    healthy = ManagedProcess(smsc_spec(port, log), tmp_path / "healthy")
    message = OutboundSms(nudge_id="n-mid", msisdn="13800000003", text=CHINESE)

    async def scenario() -> tuple[ReliableSender, InDoubtError, InDoubtError]:
        smpp = gateway(port, asyncio.Queue())
        sender = ReliableSender(smpp, deadline=30, initial_backoff=0.2, max_backoff=1.0)
        try:
            with pytest.raises(InDoubtError) as lost:
                await sender.send(message)
            await asyncio.to_thread(start_after, 0, healthy, dying)
            with pytest.raises(InDoubtError) as again:
                await sender.send(message)
            return sender, lost.value, again.value
        finally:
            await smpp.close()

    try:
        sender, lost, again = asyncio.run(scenario())
    finally:
        dying.stop()
        healthy.stop()
    assert [s["udh"][-2:] for s in submits(log)] == ["01"]  # the one the SMSC logged
    assert (lost.reason, again.reason) == (UNKNOWN_AFTER_LOST_ANSWER, UNKNOWN_AFTER_LOST_ANSWER)
    assert "part 2 of nudge n-mid" in str(again)
    assert sender.attempts == 2  # the second attempt stopped at the journal, before the SMSC


def start_after(seconds: float, process: ManagedProcess, *stopped: ManagedProcess) -> None:
    """After ``seconds`` (and once ``stopped`` have exited), start ``process`` again."""
    time.sleep(seconds)
    for old in stopped:
        old.stop()
    process.start()
    process.wait_healthy()
