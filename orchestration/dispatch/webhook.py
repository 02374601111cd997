"""HTTP webhook gateway: POST each SMS as JSON to an aggregator's URL.

Many SMS aggregators take messages over HTTPS instead of SMPP. The request is::

    POST <url>
    Idempotency-Key: <nudge_id>
    {"nudge_id", "msisdn", "text", "data_coding", "segments"}

and a 2xx answer is ``{"message_ids": [...]}`` (or ``{"message_id": "..."}``). Failures are
classified by status: 429 and 5xx and refused connections are retryable; any other 4xx is
permanent (422 with ``"error": "invalid_number"`` is :class:`InvalidNumberError`).

Each POST goes through the caller's :class:`~orchestration.dispatch.gateway.SubmitLedger` (the
dispatcher's send journal) as part 0 of its nudge: its intent is durable before the request
is made. It is made again only when the aggregator certainly did not take it: the connection
was refused, or it answered 429 or 5xx. A request whose answer was lost (timeout, connection
dropped) is *in doubt* and is not made again (:class:`InDoubtError`), so a receiver that
ignores ``Idempotency-Key`` still delivers at most once; the key stays, for the receiver's
own retries.

Receipts and replies arrive as the aggregator's callbacks to our HTTP front door, which hands
the body to :meth:`WebhookGateway.accept_callback`.
"""

from collections.abc import Mapping

import httpx
import msgspec

from orchestration.dispatch.encoding import encode_sms
from orchestration.dispatch.gateway import (
    UNKNOWN_AFTER_LOST_ANSWER,
    GatewayReport,
    InboundReply,
    InDoubtError,
    InvalidNumberError,
    MessageIndex,
    OutboundSms,
    PermanentGatewayError,
    ReportCallback,
    RetryableGatewayError,
    SendResult,
    SubmitLedger,
    accepted_before,
    utc_now,
)
from orchestration.dispatch.journal import SendLedger
from schemas.nudges import DeliveryReceipt, DeliveryStatus


class _Accepted(msgspec.Struct):
    message_ids: list[str] | None = None
    message_id: str | None = None


class _Callback(msgspec.Struct, tag_field="type"):
    """Base of the two callback bodies, told apart by ``"type"``."""


class _ReceiptCallback(_Callback, tag="receipt"):
    message_id: str
    status: DeliveryStatus
    error_code: str | None = None


class _ReplyCallback(_Callback, tag="reply"):
    msisdn: str
    text: str
    to: str = ""


_CALLBACK = msgspec.json.Decoder(_ReceiptCallback | _ReplyCallback)


class WebhookGateway:
    """POSTs to ``url`` with one shared :class:`httpx.AsyncClient`."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        on_report: ReportCallback | None = None,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.timeout = httpx.Timeout(timeout)
        self.on_report = on_report
        self._client: httpx.AsyncClient | None = None
        self._nudges = MessageIndex()
        self._ledger = SendLedger(capacity=100_000)
        """The requests made, for callers that bring no ledger of their own."""

    async def send(self, message: OutboundSms, ledger: SubmitLedger | None = None) -> SendResult:
        """POST ``message`` unless it was taken before; classify the answer into a result or
        a gateway error."""
        encoded = encode_sms(message.text, message.nudge_id)
        ledger = self._ledger if ledger is None else ledger
        earlier = accepted_before(ledger, self.name, message.nudge_id, 0)
        if earlier is not None:
            return SendResult(
                nudge_id=message.nudge_id, gateway=self.name,
                message_ids=earlier.message_ids, segments=encoded.segments,
            )  # fmt: skip
        body = {
            "nudge_id": message.nudge_id,
            "msisdn": message.msisdn,
            "text": message.text,
            "data_coding": encoded.data_coding,
            "segments": encoded.segments,
        }
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        headers = {
            **self.headers,
            "Idempotency-Key": message.nudge_id,
            "Content-Type": "application/json",
        }
        await ledger.intend(message.nudge_id, 0)
        try:
            response = await self._client.post(
                self.url, content=msgspec.json.encode(body), headers=headers
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            ledger.not_taken(message.nudge_id, 0)
            raise RetryableGatewayError(
                self.name, f"POST {self.url} failed ({type(e).__name__}: {e}); will retry"
            ) from e
        except httpx.HTTPError as e:
            raise InDoubtError(
                self.name,
                f"POST {self.url} got no answer ({type(e).__name__}: {e}); the aggregator may "
                "have taken it, so it is not sent again",
                reason=UNKNOWN_AFTER_LOST_ANSWER,
            ) from e
        payload, status = response.content, response.status_code
        if status >= 400:
            ledger.not_taken(message.nudge_id, 0)
        if status == 429 or status >= 500:
            raise RetryableGatewayError(self.name, f"POST {self.url} answered {status}")
        if status >= 400:
            detail = payload[:200].decode("utf-8", "replace")
            if status == 422 and b"invalid_number" in payload:
                raise InvalidNumberError(self.name, f"the destination number was refused: {detail}")
            raise PermanentGatewayError(self.name, f"POST {self.url} answered {status}: {detail}")
        try:
            accepted = msgspec.json.decode(payload, type=_Accepted)
        except msgspec.DecodeError as e:
            raise PermanentGatewayError(
                self.name, f"answer {status} is not the expected JSON with message_ids: {e}"
            ) from e
        ids = tuple(accepted.message_ids or ([accepted.message_id] if accepted.message_id else []))
        ledger.accepted(message.nudge_id, 0, ids)
        for message_id in ids:
            self._nudges.add(message_id, message.nudge_id)
        return SendResult(
            nudge_id=message.nudge_id, gateway=self.name, message_ids=ids, segments=encoded.segments
        )

    def accept_callback(self, body: bytes) -> GatewayReport:
        """Parse one receipt or reply callback body, report it and return it.

        Raises :class:`msgspec.ValidationError` (a ValueError) with the offending field when
        the body is neither, so the HTTP front door can answer 400 with that message.
        """
        callback = _CALLBACK.decode(body)
        report: GatewayReport
        if isinstance(callback, _ReceiptCallback):
            report = DeliveryReceipt(
                gateway=self.name,
                message_id=callback.message_id,
                nudge_id=self._nudges.pop(callback.message_id),
                status=callback.status,
                at=utc_now(),
                error_code=callback.error_code,
            )
        else:
            report = InboundReply(
                gateway=self.name,
                msisdn=callback.msisdn,
                text=callback.text,
                to=callback.to,
                at=utc_now(),
            )
        if self.on_report is not None:
            self.on_report(report)
        return report

    async def close(self) -> None:
        """Close the HTTP client (its pooled connections)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
