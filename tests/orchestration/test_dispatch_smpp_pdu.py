"""The SMPP codec: framing, submit_sm layout, receipts and replies in several encodings."""

import asyncio
import struct

import pytest

from orchestration.dispatch import smpp_pdu as pdu
from schemas.nudges import DeliveryStatus


def deliver_sm(
    text: bytes, *, esm_class: int = 0, data_coding: int = 0, tlvs: bytes = b""
) -> bytes:
    """A deliver_sm body laid out like submit_sm (the two share their mandatory fields)."""
    return (
        pdu.submit_sm_body(
            source_addr="13800000001",
            destination_addr="10086",
            esm_class=esm_class,
            registered_delivery=0,
            data_coding=data_coding,
            short_message=text,
        )
        + tlvs
    )


def test_frames_round_trip_through_a_stream() -> None:
    async def scenario() -> pdu.Pdu:
        reader = asyncio.StreamReader()
        reader.feed_data(pdu.encode_pdu(pdu.SUBMIT_SM | pdu.RESPONSE, 7, b"abc\0", status=0x58))
        return await pdu.read_pdu(reader)

    got = asyncio.run(scenario())
    assert got == pdu.Pdu(pdu.SUBMIT_SM | pdu.RESPONSE, 0x58, 7, b"abc\0")
    assert pdu.message_id(got.body) == "abc"


def test_absurd_length_is_refused() -> None:
    async def scenario() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(struct.pack(">IIII", 10**9, 4, 0, 1))
        await pdu.read_pdu(reader)

    with pytest.raises(pdu.PduError, match="outside"):
        asyncio.run(scenario())


def test_submit_sm_fields_parse_back() -> None:
    sm = pdu.parse_deliver_sm(deliver_sm(b"\x05\x00\x03\x2a\x02\x01hi", esm_class=0x40))
    assert (sm.source_addr, sm.destination_addr, sm.esm_class) == ("13800000001", "10086", 0x40)
    assert pdu.message_text(sm) == "hi"


def test_receipt_text_is_parsed() -> None:
    text = b"id:0a1b2c sub:001 dlvrd:001 submit date:2501011200 done date:2501011201 stat:DELIVRD err:000 text:"  # noqa: E501
    sm = pdu.parse_deliver_sm(deliver_sm(text, esm_class=0x04))
    assert sm.is_receipt
    assert pdu.parse_receipt(sm) == pdu.Receipt("0a1b2c", "delivered", "000")


@pytest.mark.parametrize(
    ("stat", "status"), [("EXPIRED", "expired"), ("UNDELIV", "failed"), ("REJECTD", "failed")]
)
def test_failed_receipts(stat: str, status: DeliveryStatus) -> None:
    sm = pdu.parse_deliver_sm(deliver_sm(f"id:9 stat:{stat} err:001".encode(), esm_class=0x04))
    assert pdu.parse_receipt(sm) == pdu.Receipt("9", status, "001")


def test_tlvs_win_and_non_final_states_are_skipped() -> None:
    tlvs = struct.pack(">HH", pdu.TLV_RECEIPTED_MESSAGE_ID, 4) + b"abc\0"
    delivered = tlvs + struct.pack(">HHB", pdu.TLV_MESSAGE_STATE, 1, 2)
    enroute = tlvs + struct.pack(">HHB", pdu.TLV_MESSAGE_STATE, 1, 6)
    sm = pdu.parse_deliver_sm(deliver_sm(b"", esm_class=0x04, tlvs=delivered))
    assert pdu.parse_receipt(sm) == pdu.Receipt("abc", "delivered", None)
    sm = pdu.parse_deliver_sm(deliver_sm(b"", esm_class=0x04, tlvs=enroute))
    assert pdu.parse_receipt(sm) is None


def test_receipt_without_id_is_an_error() -> None:
    sm = pdu.parse_deliver_sm(deliver_sm(b"delivered, trust me", esm_class=0x04))
    with pytest.raises(pdu.PduError, match="without message id"):
        pdu.parse_receipt(sm)


@pytest.mark.parametrize(
    ("data", "coding", "text"),
    [
        ("满意 5".encode("utf-16-be"), 8, "满意 5"),
        (b"TD", 0, "TD"),
        (b"caf\xe9", 3, "café"),
        (b"\xff\xfe", 8, "\ufffe"),
        (b"\xd8\x00", 8, "\ufffd"),  # a lone surrogate: replaced, not a crash
        (b"ok\xff", 4, "ok\ufffd"),
    ],
)
def test_reply_text_in_any_encoding(data: bytes, coding: int, text: str) -> None:
    sm = pdu.parse_deliver_sm(deliver_sm(data, data_coding=coding))
    assert not sm.is_receipt
    assert pdu.message_text(sm) == text


def test_truncated_body_is_an_error() -> None:
    with pytest.raises(pdu.PduError):
        pdu.parse_deliver_sm(deliver_sm(b"hello")[:-3])
