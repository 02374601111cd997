"""The demo gateway: every SMS becomes one JSON line in a local file.

``channelhub up`` has no SMSC to talk to, so nudges "go out" to ``<state_dir>/sms/outbox.jsonl``
where a person can read them. The file is its own idempotence record: a nudge id already in
it is answered from it and not appended again, across restarts too, so replaying the outbound
topic writes nothing new. Gateway-side guarantee: exactly one line per nudge id, as long as
only one process appends to the file.

Each append goes through the caller's :class:`~orchestration.dispatch.gateway.SubmitLedger`
(the dispatcher's send journal) as part 0 of its nudge. Unlike an SMSC, this gateway can
answer what an in-doubt part became: the line is in the file (answered from it) or it never
was written, and is appended now, once.

Delivery is simulated as immediate: every accepted message reports ``delivered`` at once.
"""

import asyncio
from pathlib import Path

import msgspec

from orchestration.dispatch.encoding import encode_sms
from orchestration.dispatch.gateway import (
    OutboundSms,
    PartAccepted,
    ReportCallback,
    SendResult,
    SubmitLedger,
    utc_now,
)
from orchestration.dispatch.journal import SendLedger
from schemas.nudges import DeliveryReceipt


class OutboxLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the outbox file."""

    nudge_id: str
    msisdn: str
    text: str
    data_coding: int
    segments: int
    message_ids: tuple[str, ...]
    sent_at: str


class FileGateway:
    """Appends one :class:`OutboxLine` per nudge to ``path``."""

    name = "file"

    def __init__(self, path: Path, on_report: ReportCallback | None = None) -> None:
        self.path = path
        self.on_report = on_report
        self._lock = asyncio.Lock()
        self._sent: dict[str, SendResult] | None = None
        self._ledger = SendLedger(capacity=100_000)
        """The appends made, for callers that bring no ledger of their own."""

    async def send(self, message: OutboundSms, ledger: SubmitLedger | None = None) -> SendResult:
        """Append ``message`` unless its nudge id is already in the file (or the ledger says
        it was appended to an outbox since moved away)."""
        ledger = self._ledger if ledger is None else ledger
        async with self._lock:
            if self._sent is None:
                self._sent = await asyncio.to_thread(self._load)
            known = self._sent.get(message.nudge_id)
            if known is not None:
                return known
            encoded = encode_sms(message.text, message.nudge_id)
            earlier = ledger.prior(message.nudge_id, 0)
            if isinstance(earlier, PartAccepted):
                return SendResult(
                    nudge_id=message.nudge_id, gateway=self.name,
                    message_ids=earlier.message_ids, segments=encoded.segments,
                )  # fmt: skip
            await ledger.intend(message.nudge_id, 0)
            ids = tuple(f"{message.nudge_id}.{seq}" for seq in range(1, encoded.segments + 1))
            line = OutboxLine(
                nudge_id=message.nudge_id,
                msisdn=message.msisdn,
                text=message.text,
                data_coding=encoded.data_coding,
                segments=encoded.segments,
                message_ids=ids,
                sent_at=utc_now().isoformat(),
            )
            await asyncio.to_thread(self._append, msgspec.json.encode(line) + b"\n")
            ledger.accepted(message.nudge_id, 0, ids)
            result = self._sent[message.nudge_id] = self._result(line)
        if self.on_report is not None:
            for message_id in ids:
                self.on_report(
                    DeliveryReceipt(
                        gateway=self.name,
                        message_id=message_id,
                        nudge_id=message.nudge_id,
                        status="delivered",
                        at=utc_now(),
                    )
                )
        return result

    async def close(self) -> None:
        """Nothing stays open between sends."""

    def _load(self) -> dict[str, SendResult]:
        if not self.path.exists():
            return {}
        decoder = msgspec.json.Decoder(OutboxLine)
        with self.path.open("rb") as f:
            lines = [decoder.decode(raw) for raw in f if raw.strip()]
        return {line.nudge_id: self._result(line) for line in lines}

    def _append(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            f.write(data)
            f.flush()

    def _result(self, line: OutboxLine) -> SendResult:
        return SendResult(
            nudge_id=line.nudge_id,
            gateway=self.name,
            message_ids=line.message_ids,
            segments=line.segments,
        )
