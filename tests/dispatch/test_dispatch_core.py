"""The dispatcher's Kafka-free core with a fake gateway: settling, give-backs, replies."""

import asyncio
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from orchestration.dispatch import InboundReply, ReliableSender, SendLedger
from schemas import Rejection, validate
from schemas.nudges import DecidedNudge, Dispatch
from streams.dispatch_core import (
    UNKNOWN_BRAND,
    UNKNOWN_PREFECTURE,
    BatchSender,
    Recipients,
    Settled,
    Unsent,
    encode,
    national_number,
    reply_event,
    settle,
)
from tests.dispatch.gateways import FakeGateway
from tests.dispatch.nudges import approved, msisdn

REPLY_AT = datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=UTC)


def batch_sender(
    gateway: FakeGateway, *, deadline: float = 5.0, concurrency: int = 100
) -> BatchSender:
    sender = ReliableSender(gateway, deadline=deadline, initial_backoff=0.01, max_backoff=0.05)
    return BatchSender(sender, concurrency=concurrency, recipients=Recipients())


def partition(
    *nudges: DecidedNudge | None, first: int = 0
) -> list[tuple[int, DecidedNudge | None]]:
    return [(first + i, n) for i, n in enumerate(nudges)]


def send(
    sender: BatchSender,
    batch: Mapping[int, Sequence[tuple[int, DecidedNudge | None]]],
    ledgers: dict[int, SendLedger] | None = None,
) -> dict[int, Settled]:
    """``sender.send`` with an in-memory ledger per partition (``ledgers``, kept across calls)."""
    ledgers = {} if ledgers is None else ledgers
    for k in batch:
        ledgers.setdefault(k, SendLedger())
    return asyncio.run(sender.send(batch, ledgers))


def ids(settled: Settled) -> list[tuple[str, str]]:
    return [(d.nudge_id, d.status) for d in settled.dispatches]


def test_settle_stops_at_the_first_given_back_record() -> None:
    d = Dispatch(
        nudge_id="n", rule_id="r", msisdn=msisdn(1), text="t", goal="g", status="sent",
        gateway="fake", approved_at=REPLY_AT, dispatched_at=REPLY_AT,
    )  # fmt: skip
    given_back = settle([(10, d), (11, Unsent.SKIPPED), (12, Unsent.GIVEN_BACK), (13, d)])
    assert given_back == Settled([d], 12, given_back=True)
    assert settle([(10, d), (11, Unsent.SKIPPED)]) == Settled([d], 12, given_back=False)


def test_every_nudge_sent_once_and_its_recipient_remembered() -> None:
    gateway = FakeGateway()
    sender = batch_sender(gateway)
    batch = {0: partition(approved(1), approved(2), first=40), 1: partition(approved(3))}
    settled = send(sender, batch)
    assert {k: ids(s) for k, s in settled.items()} == {
        0: [("n-00001", "sent"), ("n-00002", "sent")],
        1: [("n-00003", "sent")],
    }
    assert (settled[0].next_offset, settled[1].next_offset) == (42, 1)
    sent = settled[0].dispatches[0]
    assert (sent.message_ids, sent.segments, sent.msisdn, sent.gateway) == (
        ("m-n-00001.1",),
        1,
        msisdn(1),
        "fake",
    )
    assert sent.approved_at == approved(1).decision.decided_at
    assert gateway.accepted == Counter({"n-00001": 1, "n-00002": 1, "n-00003": 1})
    recipient = sender.recipients.get(msisdn(2))
    assert recipient is not None
    assert (recipient.prefecture, recipient.brand, recipient.nudge_id) == (
        "yueyang",
        "gotone",
        "n-00002",
    )


def test_refusals_settle_as_failed_and_undecodable_records_are_skipped() -> None:
    too_long = approved(3, text="长" * (255 * 67 + 1))
    sender = batch_sender(FakeGateway(invalid={msisdn(2)}))
    settled = send(sender, {0: partition(approved(1), approved(2), None, too_long)})
    assert ids(settled[0]) == [("n-00001", "sent"), ("n-00002", "failed"), ("n-00003", "failed")]
    assert settled[0].next_offset == 4
    assert not settled[0].given_back
    refused = settled[0].dispatches[1]
    assert "is not a subscriber" in (refused.error or "")
    assert (refused.message_ids, refused.segments) == ((), 0)
    assert "SMS parts" in (settled[0].dispatches[2].error or "")


def test_a_gateway_down_past_the_deadline_gives_back_without_sending_twice() -> None:
    gateway = FakeGateway(down={"n-00002"})
    sender = batch_sender(gateway, deadline=0.3)
    batch = {
        0: partition(approved(1), approved(2), approved(3), first=7),
        1: partition(approved(4)),
    }
    ledgers: dict[int, SendLedger] = {}
    settled = send(sender, batch, ledgers)
    assert ids(settled[0]) == [("n-00001", "sent")]  # n-00003 was sent, but not produced
    assert (settled[0].next_offset, settled[0].given_back) == (8, True)
    assert ids(settled[1]) == [("n-00004", "sent")]
    assert "503" in sender.last_outage

    gateway.recover()
    again = send(sender, {0: batch[0][1:]}, ledgers)
    assert ids(again[0]) == [("n-00002", "sent"), ("n-00003", "sent")]
    assert again[0].next_offset == 10
    assert set(gateway.accepted.values()) == {1}


def test_an_outage_costs_one_deadline_per_batch_not_one_per_nudge() -> None:
    gateway = FakeGateway(down={"*"})
    sender = batch_sender(gateway, deadline=0.3, concurrency=4)
    started = time.monotonic()
    settled = send(sender, {0: partition(*(approved(i) for i in range(40)))})
    assert time.monotonic() - started < 1.5
    assert settled[0] == Settled([], 0, given_back=True)
    assert not gateway.accepted


def test_a_reply_from_a_subscriber_we_sent_to_is_placed_where_they_belong() -> None:
    recipients = Recipients()
    recipients.remember(approved(2).request)
    reply = InboundReply(gateway="smpp", msisdn="86" + msisdn(2), text="4", at=REPLY_AT)
    event = reply_event(reply, recipients)
    assert (event.msisdn, event.prefecture, event.brand) == (msisdn(2), "yueyang", "gotone")
    assert event.session_id == "reply-n-00002"
    assert event.occurred_at == REPLY_AT.replace(microsecond=123000)
    assert (event.attributes.text, event.attributes.match_kind) == ("4", "unknown")
    assert not isinstance(validate(encode(event)), Rejection)
    assert reply_event(reply, Recipients()).event_id == event.event_id
    other = InboundReply(gateway="smpp", msisdn=msisdn(2), text="5", at=REPLY_AT)
    assert reply_event(other, recipients).event_id != event.event_id


def test_a_reply_from_an_unknown_subscriber_is_still_a_valid_event() -> None:
    reply = InboundReply(gateway="webhook", msisdn="+86" + msisdn(9), text="TD", at=REPLY_AT)
    event = reply_event(reply, Recipients())
    assert (event.prefecture, event.brand) == (UNKNOWN_PREFECTURE, UNKNOWN_BRAND)
    assert event.session_id == "reply-" + event.event_id.replace("-", "")
    assert not isinstance(validate(encode(event)), Rejection)


def test_recipients_forget_the_least_recent_beyond_capacity() -> None:
    recipients = Recipients(capacity=2)
    for i in (1, 2, 1, 3):
        recipients.remember(approved(i, brand=None).request)
    assert recipients.get(msisdn(2)) is None
    assert [recipients.get(msisdn(i)) is not None for i in (1, 3)] == [True, True]
    assert recipients.get(msisdn(1)).brand == UNKNOWN_BRAND  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("address", "national"),
    [
        ("13800000001", "13800000001"),
        ("8613800000001", "13800000001"),
        ("+8613800000001", "13800000001"),
        ("008613800000001", "13800000001"),
        ("10086", "10086"),
    ],
)
def test_national_number(address: str, national: str) -> None:
    assert national_number(address) == national
