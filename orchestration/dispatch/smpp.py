"""SMPP 3.4 gateway: submit nudges to the operator's SMSC over one bound session.

Why our own small client instead of a PyPI library: ``smpplib`` is blocking (a socket read
loop in a thread, handlers called from it), which would put threads and locks between it and
our asyncio dispatcher; the asyncio libraries bring their own queues, retries and
correlation stores, which duplicate :class:`~orchestration.dispatch.retry.ReliableSender`.
The ESME side we need is a few PDUs (:mod:`orchestration.dispatch.smpp_pdu`).

One :class:`SmppGateway` keeps one transceiver session (or a transmitter one, without
receipts or replies), connecting lazily and again after any loss. A long SMS is one
submit_sm per part, UDH in the short message and esm_class 0x40, in part order.

Errors: a refused connection, a session lost before submit_sm was written and the SMSC's
throttling/queue-full statuses are retryable; an unanswered submit_sm is
:class:`InDoubtError`; an invalid destination is :class:`InvalidNumberError`; any other
refusal is permanent.

Gateway-side guarantee: SMPP has no idempotence key, so each submit_sm goes through the
caller's :class:`~orchestration.dispatch.gateway.SubmitLedger` (the dispatcher's send journal;
without one, the adapter's own in memory): its intent is durable before the PDU is written, a
retry resumes after the parts the SMSC took, and a part whose answer was lost (no
submit_sm_resp in time, the session gone after the PDU was written, or a crash) is *in doubt*
and never submitted again: :class:`InDoubtError`, the nudge fails with the parts taken so far.
A part is submitted again only when the SMSC certainly did not take it: refused with a status
(throttled, queue full), or the session closed before the PDU was written.
"""

import asyncio
import contextlib
import logging
import time
from typing import Literal

import msgspec

from orchestration.dispatch import smpp_pdu as pdu
from orchestration.dispatch.encoding import Encoded, encode_sms
from orchestration.dispatch.gateway import (
    UNKNOWN_AFTER_LOST_ANSWER,
    GatewayError,
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
from schemas.nudges import DeliveryReceipt

log = logging.getLogger(__name__)

#: How long a receipt whose message id is not known yet waits for its submit_sm_resp.
EARLY_RECEIPT_WAIT_S = 5.0

BindMode = Literal["transceiver", "transmitter"]
_BIND = {"transceiver": pdu.BIND_TRANSCEIVER, "transmitter": pdu.BIND_TRANSMITTER}


class _NotWrittenError(ConnectionError):
    """The session was closed before the request was written: the SMSC never saw it."""


class _Session:
    """One TCP connection, bound; correlates responses with requests by sequence number."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.pending: dict[int, asyncio.Future[pdu.Pdu]] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self._sequence = 0

    def next_sequence(self) -> int:
        self._sequence = self._sequence % 0x7FFFFFFF + 1
        return self._sequence

    async def request(self, command_id: int, body: bytes) -> pdu.Pdu:
        """Send a request and wait for its answer; TimeoutError after ``self.timeout``."""
        if self.writer.is_closing():
            raise _NotWrittenError("the session was closed")
        sequence = self.next_sequence()
        answer = asyncio.get_running_loop().create_future()
        self.pending[sequence] = answer
        try:
            self.writer.write(pdu.encode_pdu(command_id, sequence, body))
            await self.writer.drain()
            return await asyncio.wait_for(answer, self.timeout)
        finally:
            self.pending.pop(sequence, None)

    def answer(self, command_id: int, sequence: int, body: bytes = b"") -> None:
        self.writer.write(pdu.encode_pdu(command_id | pdu.RESPONSE, sequence, body))

    def fail_pending(self, error: Exception) -> None:
        for future in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.pending.clear()


class SmppGateway:
    """An ESME bound to one SMSC at ``host:port``."""

    name = "smpp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        system_id: str,
        password: str,
        system_type: str = "",
        source_addr: str = "10086",
        bind: BindMode = "transceiver",
        timeout: float = 10.0,
        enquire_link_every: float = 30.0,
        on_report: ReportCallback | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.system_id, self.password, self.system_type = system_id, password, system_type
        self.source_addr = source_addr
        self.bind = bind
        self.timeout = timeout
        self.enquire_link_every = enquire_link_every
        self.on_report = on_report
        self._session: _Session | None = None
        self._connecting = asyncio.Lock()
        self._ledger = SendLedger(capacity=100_000)
        """The parts submitted, for callers that bring no ledger of their own."""
        self._nudges = MessageIndex()
        self._early: dict[str, tuple[float, DeliveryReceipt]] = {}
        """Receipts read before the submit_sm_resp of their part was handled: the SMSC may
        send them back to back, and the reader sees the receipt first."""

    # -- sending ----------------------------------------------------------------------------

    async def send(self, message: OutboundSms, ledger: SubmitLedger | None = None) -> SendResult:
        """Submit every part the SMSC has not taken yet; its message id for each part."""
        encoded = encode_sms(message.text, message.nudge_id)
        ledger = self._ledger if ledger is None else ledger
        message_ids: list[str] = []
        for part in range(encoded.segments):
            earlier = accepted_before(ledger, self.name, message.nudge_id, part)
            if earlier is None:
                message_ids.append(await self._submit(message, encoded, part, ledger))
            else:
                message_ids.extend(earlier.message_ids)
        return SendResult(
            nudge_id=message.nudge_id,
            gateway=self.name,
            message_ids=tuple(message_ids),
            segments=encoded.segments,
        )

    async def _submit(
        self, message: OutboundSms, encoded: Encoded, part: int, ledger: SubmitLedger
    ) -> str:
        """submit_sm one part, its intent durable first; the SMSC's message id for it."""
        session = await self._bound_session()
        await ledger.intend(message.nudge_id, part)
        body = pdu.submit_sm_body(
            source_addr=self.source_addr,
            destination_addr=message.msisdn,
            esm_class=pdu.ESM_UDHI if encoded.has_udh else 0,
            registered_delivery=pdu.REGISTERED_DELIVERY_FINAL,
            data_coding=encoded.data_coding,
            short_message=encoded.parts[part],
        )
        try:
            answer = await self._request(session, pdu.SUBMIT_SM, body, message.msisdn)
        except InDoubtError:
            raise
        except GatewayError:
            ledger.not_taken(message.nudge_id, part)
            raise
        message_id = pdu.message_id(answer.body)
        ledger.accepted(message.nudge_id, part, (message_id,))
        early = self._early.pop(message_id, None)
        if early is not None and self.on_report is not None:
            self.on_report(msgspec.structs.replace(early[1], nudge_id=message.nudge_id))
        else:
            self._nudges.add(message_id, message.nudge_id)
        return message_id

    async def _request(
        self, session: _Session, command_id: int, body: bytes, msisdn: str
    ) -> pdu.Pdu:
        try:
            answer = await session.request(command_id, body)
        except _NotWrittenError as e:
            await self._drop(session)
            raise RetryableGatewayError(self.name, f"session to {self._where} lost: {e}") from e
        except TimeoutError as e:
            # The SMSC may still answer; we cannot tell, so start over on a fresh session.
            await self._drop(session)
            raise InDoubtError(
                self.name,
                f"no answer to submit_sm within {self.timeout}s; the SMSC may have taken it, "
                "so it is not submitted again",
                reason=UNKNOWN_AFTER_LOST_ANSWER,
            ) from e
        except OSError as e:
            await self._drop(session)
            raise InDoubtError(
                self.name,
                f"session to {self._where} lost after submit_sm was written ({e}); the SMSC "
                "may have taken it, so it is not submitted again",
                reason=UNKNOWN_AFTER_LOST_ANSWER,
            ) from e
        if answer.status == pdu.STATUS_OK:
            return answer
        status = f"SMSC answered submit_sm with status 0x{answer.status:02X}"
        if answer.status in pdu.RETRYABLE_STATUSES:
            raise RetryableGatewayError(self.name, f"{status} (busy or throttled)")
        if answer.status in pdu.INVALID_NUMBER_STATUSES:
            raise InvalidNumberError(self.name, f"{status}: the destination number was refused")
        raise PermanentGatewayError(self.name, status)

    # -- the session ------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    async def _bound_session(self) -> _Session:
        async with self._connecting:
            if self._session is None:
                self._session = await self._connect()
            return self._session

    async def _connect(self) -> _Session:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout
            )
        except (OSError, TimeoutError) as e:
            raise RetryableGatewayError(
                self.name, f"cannot connect to SMSC at {self._where}: {e or type(e).__name__}"
            ) from e
        session = _Session(reader, writer, self.timeout)
        session.tasks.append(asyncio.create_task(self._read_loop(session)))
        body = pdu.bind_body(self.system_id, self.password, self.system_type)
        try:
            answer = await session.request(_BIND[self.bind], body)
        except (OSError, TimeoutError) as e:
            await self._close(session)
            raise RetryableGatewayError(self.name, f"bind to {self._where} failed: {e}") from e
        if answer.status != pdu.STATUS_OK:
            await self._close(session)
            raise PermanentGatewayError(
                self.name,
                f"SMSC at {self._where} refused bind_{self.bind} as {self.system_id!r} "
                f"(status 0x{answer.status:02X}); check system_id and password",
            )
        session.tasks.append(asyncio.create_task(self._keep_alive(session)))
        return session

    async def _read_loop(self, session: _Session) -> None:
        """Route answers to their requests, answer the SMSC's own requests."""
        reason: Exception = ConnectionResetError(f"SMSC at {self._where} closed the session")
        try:
            while True:
                got = await pdu.read_pdu(session.reader)
                if got.command_id & pdu.RESPONSE:
                    waiting = session.pending.get(got.sequence)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(got)
                elif got.command_id == pdu.DELIVER_SM:
                    self._on_deliver_sm(got.body)
                    session.answer(pdu.DELIVER_SM, got.sequence, b"\0")
                elif got.command_id == pdu.ENQUIRE_LINK:
                    session.answer(pdu.ENQUIRE_LINK, got.sequence)
                elif got.command_id == pdu.UNBIND:
                    session.answer(pdu.UNBIND, got.sequence)
                    break
                else:
                    session.writer.write(
                        pdu.encode_pdu(
                            pdu.GENERIC_NACK, got.sequence, status=pdu.STATUS_INVALID_COMMAND
                        )
                    )
        except (asyncio.IncompleteReadError, OSError, pdu.PduError) as e:
            reason = ConnectionResetError(f"session to {self._where} ended: {e}")
        finally:
            session.fail_pending(reason)
            if self._session is session:
                self._session = None
            session.writer.close()

    async def _keep_alive(self, session: _Session) -> None:
        """enquire_link when idle, so NATs and SMSCs keep the session; drop it if unanswered."""
        while True:
            await asyncio.sleep(self.enquire_link_every)
            self._report_overdue_early_receipts()
            try:
                await session.request(pdu.ENQUIRE_LINK, b"")
            except (OSError, TimeoutError):
                await self._drop(session)
                return

    def _report_overdue_early_receipts(self) -> None:
        """Receipts whose part this session never submitted (a restart forgot it) are
        reported with ``nudge_id`` None once they have waited long enough."""
        now = time.monotonic()
        for message_id, (parked_at, report) in list(self._early.items()):
            if now - parked_at >= EARLY_RECEIPT_WAIT_S and self.on_report is not None:
                del self._early[message_id]
                self.on_report(report)

    def _on_deliver_sm(self, body: bytes) -> None:
        """Report a receipt or a reply; a malformed one is logged and acknowledged, so the
        SMSC does not redeliver it forever."""
        try:
            sm = pdu.parse_deliver_sm(body)
            if sm.is_receipt:
                receipt = pdu.parse_receipt(sm)
                if receipt is None or self.on_report is None:
                    return
                report = DeliveryReceipt(
                    gateway=self.name,
                    message_id=receipt.message_id,
                    nudge_id=self._nudges.pop(receipt.message_id),
                    status=receipt.status,
                    at=utc_now(),
                    error_code=receipt.error_code,
                )
                self._report_overdue_early_receipts()
                if report.nudge_id is None:
                    self._early[report.message_id] = (time.monotonic(), report)
                else:
                    self.on_report(report)
            elif self.on_report is not None:
                self.on_report(
                    InboundReply(
                        gateway=self.name,
                        msisdn=sm.source_addr,
                        text=pdu.message_text(sm),
                        to=sm.destination_addr,
                        at=utc_now(),
                    )
                )
        except pdu.PduError as e:
            # Its body would hold the sender's number (hex escapes the log scrubber): its size only.
            log.warning("deliver_sm from %s ignored: %s (%d bytes)", self._where, e, len(body))

    async def _drop(self, session: _Session) -> None:
        if self._session is session:
            self._session = None
        await self._close(session)

    async def _close(self, session: _Session) -> None:
        current = asyncio.current_task()
        for task in session.tasks:
            if task is not current:
                task.cancel()
        session.writer.close()
        with contextlib.suppress(OSError):
            await session.writer.wait_closed()
        for task in session.tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def close(self) -> None:
        """Unbind politely (best effort) and close the connection."""
        session, self._session = self._session, None
        if session is None:
            return
        with contextlib.suppress(OSError, TimeoutError):
            await session.request(pdu.UNBIND, b"")
        await self._close(session)
