"""The slice of SMPP 3.4 an ESME needs to submit SMS and take receipts and replies.

Framing (16-octet header: length, command id, status, sequence), C-octet strings, the bind,
submit_sm and deliver_sm bodies, and the optional TLVs a receipt may carry. Pure functions
over bytes, so the codec is tested without a socket; :mod:`orchestration.dispatch.smpp` does
the I/O.
"""

import asyncio
import re
import struct
from dataclasses import dataclass, field
from typing import Final

from orchestration.dispatch.encoding import DATA_CODING_GSM7, DATA_CODING_UCS2, decode_gsm7
from schemas.nudges import DeliveryStatus

RESPONSE: Final = 0x80000000
GENERIC_NACK: Final = 0x80000000
BIND_RECEIVER: Final = 0x00000001
BIND_TRANSMITTER: Final = 0x00000002
SUBMIT_SM: Final = 0x00000004
DELIVER_SM: Final = 0x00000005
UNBIND: Final = 0x00000006
BIND_TRANSCEIVER: Final = 0x00000009
ENQUIRE_LINK: Final = 0x00000015

INTERFACE_VERSION: Final = 0x34
ESM_UDHI: Final = 0x40
ESM_TYPE_MASK: Final = 0x3C
ESM_TYPE_RECEIPT: Final = 0x04
REGISTERED_DELIVERY_FINAL: Final = 0x01
"""Ask for a receipt on final delivery outcome, success or failure."""

TLV_RECEIPTED_MESSAGE_ID: Final = 0x001E
TLV_MESSAGE_PAYLOAD: Final = 0x0424
TLV_MESSAGE_STATE: Final = 0x0427

STATUS_OK: Final = 0x00
STATUS_INVALID_COMMAND: Final = 0x03
STATUS_SYSTEM_ERROR: Final = 0x08
STATUS_MESSAGE_QUEUE_FULL: Final = 0x14
STATUS_THROTTLED: Final = 0x58
STATUS_TEMPORARY_APP_ERROR: Final = 0x64
RETRYABLE_STATUSES: Final = frozenset(
    {STATUS_SYSTEM_ERROR, STATUS_MESSAGE_QUEUE_FULL, STATUS_THROTTLED, STATUS_TEMPORARY_APP_ERROR}
)
INVALID_NUMBER_STATUSES: Final = frozenset({0x0B, 0x50, 0x51})
"""Invalid destination address, its TON, its NPI."""

MAX_PDU: Final = 64 * 1024
_HEADER: Final = struct.Struct(">IIII")

_STAT: Final[dict[str, DeliveryStatus]] = {
    "DELIVRD": "delivered",
    "EXPIRED": "expired",
    "UNDELIV": "failed",
    "REJECTD": "failed",
    "DELETED": "failed",
    "UNKNOWN": "failed",
}
_STATE: Final[dict[int, DeliveryStatus]] = {
    2: "delivered", 3: "expired", 4: "failed", 5: "failed", 7: "failed", 8: "failed",
}  # fmt: skip
_RECEIPT_TEXT: Final = re.compile(
    r"id:(?P<id>\S+).*?stat:(?P<stat>[A-Z]+)(?:\s+err:(?P<err>\w+))?", re.IGNORECASE | re.DOTALL
)


class PduError(ValueError):
    """Bytes that are not a well-formed PDU of the expected kind."""


@dataclass(frozen=True)
class Pdu:
    command_id: int
    status: int
    sequence: int
    body: bytes = b""


@dataclass(frozen=True)
class ShortMessage:
    """The mandatory fields of a deliver_sm that we use, plus its TLVs."""

    source_addr: str
    destination_addr: str
    esm_class: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def is_receipt(self) -> bool:
        return self.esm_class & ESM_TYPE_MASK == ESM_TYPE_RECEIPT


@dataclass(frozen=True)
class Receipt:
    message_id: str
    status: DeliveryStatus
    error_code: str | None


def encode_pdu(command_id: int, sequence: int, body: bytes = b"", status: int = STATUS_OK) -> bytes:
    return _HEADER.pack(_HEADER.size + len(body), command_id, status, sequence) + body


async def read_pdu(reader: asyncio.StreamReader) -> Pdu:
    """The next PDU; raises IncompleteReadError at EOF and PduError on a bad length."""
    length, command_id, status, sequence = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if not _HEADER.size <= length <= MAX_PDU:
        raise PduError(f"PDU length {length} outside {_HEADER.size}..{MAX_PDU}")
    body = await reader.readexactly(length - _HEADER.size)
    return Pdu(command_id, status, sequence, body)


def cstring(value: str) -> bytes:
    return value.encode("ascii") + b"\0"


def bind_body(system_id: str, password: str, system_type: str = "") -> bytes:
    """bind_transmitter / bind_transceiver body; we take any address range."""
    return (
        cstring(system_id)
        + cstring(password)
        + cstring(system_type)
        + bytes([INTERFACE_VERSION, 0, 0])
        + cstring("")
    )


def submit_sm_body(
    *,
    source_addr: str,
    destination_addr: str,
    esm_class: int,
    registered_delivery: int,
    data_coding: int,
    short_message: bytes,
) -> bytes:
    """submit_sm body: source TON/NPI 0/0 (the SMSC knows its service numbers), destination
    TON 0 NPI 1 (ISDN, the number as the operator writes it)."""
    if len(short_message) > 254:
        raise PduError(f"short_message of {len(short_message)} octets; at most 254 fit")
    return (
        cstring("")  # service_type
        + bytes([0, 0])
        + cstring(source_addr)
        + bytes([0, 1])
        + cstring(destination_addr)
        + bytes([esm_class, 0, 0])  # esm_class, protocol_id, priority_flag
        + cstring("")  # schedule_delivery_time: now
        + cstring("")  # validity_period: the SMSC's default
        + bytes([registered_delivery, 0, data_coding, 0, len(short_message)])
        + short_message
    )


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def octet(self) -> int:
        if self.at >= len(self.data):
            raise PduError("body ends before its mandatory fields")
        self.at += 1
        return self.data[self.at - 1]

    def cstring(self) -> str:
        end = self.data.find(b"\0", self.at)
        if end < 0:
            raise PduError("C-octet string without its terminating NUL")
        value = self.data[self.at : end].decode("latin-1")
        self.at = end + 1
        return value

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise PduError(f"field of {n} octets runs past the end of the body")
        self.at += n
        return self.data[self.at - n : self.at]


def message_id(body: bytes) -> str:
    """The message_id of a submit_sm_resp (empty when the body is)."""
    return _Cursor(body).cstring() if body else ""


def parse_deliver_sm(body: bytes) -> ShortMessage:
    c = _Cursor(body)
    c.cstring()  # service_type
    c.take(2)
    source = c.cstring()
    c.take(2)
    destination = c.cstring()
    esm_class = c.octet()
    c.take(2)  # protocol_id, priority_flag
    c.cstring()  # schedule_delivery_time
    c.cstring()  # validity_period
    c.take(2)  # registered_delivery, replace_if_present_flag
    data_coding = c.octet()
    c.octet()  # sm_default_msg_id
    short_message = c.take(c.octet())
    tlvs: dict[int, bytes] = {}
    while c.at < len(body):
        tag, length = struct.unpack(">HH", c.take(4))
        tlvs[tag] = c.take(length)
    return ShortMessage(source, destination, esm_class, data_coding, short_message, tlvs)


def message_text(sm: ShortMessage) -> str:
    """The text of a deliver_sm in any encoding we may get; undecodable octets become U+FFFD."""
    data = sm.short_message or sm.tlvs.get(TLV_MESSAGE_PAYLOAD, b"")
    if sm.esm_class & ESM_UDHI and data:
        data = data[data[0] + 1 :]
    coding = sm.data_coding & 0x0F if sm.data_coding < 0xC0 else 0
    if coding == DATA_CODING_UCS2:
        return data.decode("utf-16-be", "replace")
    if coding == DATA_CODING_GSM7:
        return decode_gsm7(data)
    if coding == 0x03:
        return data.decode("latin-1")
    return data.decode("utf-8", "replace")


def parse_receipt(sm: ShortMessage) -> Receipt | None:
    """The outcome a receipt reports, or None for a non-final one (accepted, en route).

    TLVs win over the text, since SMSCs format the text loosely (and some put the id in
    decimal there); the text is the common ``id:... stat:DELIVRD err:000`` convention.
    """
    match = _RECEIPT_TEXT.search(message_text(sm))
    receipted = sm.tlvs.get(TLV_RECEIPTED_MESSAGE_ID)
    state = sm.tlvs.get(TLV_MESSAGE_STATE)
    if receipted is not None:
        mid = receipted.rstrip(b"\0").decode("latin-1")
    elif match is not None:
        mid = match["id"]
    else:
        raise PduError(f"receipt without message id: {message_text(sm)[:80]!r}")
    if state:
        status = _STATE.get(state[0])
    elif match is not None:
        status = _STAT.get(match["stat"].upper())
    else:
        raise PduError(f"receipt without state: {message_text(sm)[:80]!r}")
    if status is None:
        return None
    return Receipt(mid, status, match["err"] if match is not None else None)
