"""Dispatch: approved nudges → an SMS gateway, and its receipts and replies back.

- :mod:`.encoding`: text → GSM-7 or UCS-2 parts with the concatenation UDH
- :mod:`.gateway`: the adapter protocol, result and report records, the error tree
- :mod:`.retry`: :class:`ReliableSender`, backoff to a deadline, once per nudge id
- :mod:`.journal`: :class:`SendJournal`, the durable record of every submission: at most once
  per SMS part across crashes
- adapters: :class:`FileGateway` (demo), :class:`WebhookGateway` (HTTP), :class:`SmppGateway`
- :mod:`.factory`: :func:`build_gateway`, the adapter the settings name
"""

from orchestration.dispatch.encoding import Encoded, SmsTooLongError, encode_sms
from orchestration.dispatch.factory import build_gateway
from orchestration.dispatch.file_gateway import FileGateway
from orchestration.dispatch.gateway import (
    Gateway,
    GatewayError,
    GatewayReport,
    InboundReply,
    InDoubtError,
    InvalidNumberError,
    OutboundSms,
    PermanentGatewayError,
    ReportCallback,
    RetryableGatewayError,
    SendResult,
    SubmitLedger,
)
from orchestration.dispatch.journal import Journals, Outcome, SendJournal, SendLedger
from orchestration.dispatch.retry import ReliableSender
from orchestration.dispatch.smpp import SmppGateway
from orchestration.dispatch.webhook import WebhookGateway
from schemas.nudges import DeliveryReceipt

__all__ = [
    "DeliveryReceipt",
    "Encoded",
    "FileGateway",
    "Gateway",
    "GatewayError",
    "GatewayReport",
    "InDoubtError",
    "InboundReply",
    "InvalidNumberError",
    "Journals",
    "OutboundSms",
    "Outcome",
    "PermanentGatewayError",
    "ReliableSender",
    "ReportCallback",
    "RetryableGatewayError",
    "SendJournal",
    "SendLedger",
    "SendResult",
    "SmppGateway",
    "SmsTooLongError",
    "SubmitLedger",
    "WebhookGateway",
    "build_gateway",
    "encode_sms",
]
