"""The dispatch stage: approved nudges → the SMS gateway → ``nudges.dispatches``; the gateway's
receipts → ``nudges.receipts`` and its subscribers' replies → the raw topic.

A stage on the shared batched runtime (:mod:`streams.runtime`), like the validator: faust
hosts the process (and the callback page), but no faust agent or table runs here. Group
``<group_prefix>-dispatch`` reads ``settings.topic_nudges_outbound`` (approved nudges, keyed
by MSISDN) at most ``dispatch_concurrency`` records per fold, so a fold is one chunk: send
every nudge through :class:`streams.dispatch_core.BatchSender`, each submission through the
partition's send journal (:mod:`orchestration.dispatch.journal`, durable before the gateway
sees it), produce a ``Dispatch`` (sent with its message ids, or failed with the gateway's
refusal or ``unknown_after_crash``) for each settled one; the runtime commits the chunk once
those are acknowledged. So a crash leaves at most the chunks in flight uncommitted, and what
they had handed to the gateway is answered from the journal, never submitted again.

A gateway that stays down past ``dispatch_deadline_seconds`` gets the rest of the chunk
given back: not produced, not committed, the consumer seeks back to it and fetches it again
after a pause that doubles up to :data:`MAX_PAUSE_S`. Nothing is lost, and nothing is sent
twice: the journal says what the gateway took and what it certainly did not.

A rebalance waits for the chunk being sent (its sends are bounded by the sender's deadline),
the runtime commits every chunk in flight, and the partitions' journals are closed before
they move; whoever owns them next reads the same journals if it runs on this machine.

Reports arrive from the adapter's own tasks (``on_report``) on a queue and are produced by a
second loop: delivery receipts as msgspec JSON keyed by message id, replies as canonical
``sms.message_received`` events keyed by MSISDN, which the validation worker takes like any
other. A report is held in memory until the broker acknowledged it: one lost in a crash is
not reported again by SMPP or the file gateway; webhook callbacks are answered only after
the acknowledgement (``POST /sms/callback`` on the dispatcher's web port), so the aggregator
retries what we did not record.
"""

import asyncio
import contextlib
import hmac
import logging

import faust
import msgspec
from aiokafka import ConsumerRecord, TopicPartition
from faust.web import Request, Response, View
from mode import Service

from kernel.settings import Settings
from orchestration.dispatch import (
    DeliveryReceipt,
    GatewayReport,
    Journals,
    ReliableSender,
    WebhookGateway,
    build_gateway,
)
from orchestration.dispatch.factory import journal_dir
from schemas.nudges import DecidedNudge
from streams.acks import Offsets
from streams.dispatch_core import (
    OUTBOUND,
    BatchSender,
    Recipients,
    encode,
    national_number,
    reply_event,
)
from streams.runtime import Acks, BatchStage, Fetched

log = logging.getLogger(__name__)

MAX_PAUSE_S = 30.0
"""The longest wait before fetching given-back nudges again."""
CALLBACK_PATH = "/sms/callback"
CALLBACK_ACK_S = 10.0
"""How long a callback waits for the broker before answering 503 (the aggregator retries)."""
STOP_WAIT_S = 5.0
"""How long stopping waits for the chunk at the gateway before it stops anyway."""
REPORTS_FLUSH_S = 3.0
"""How long stopping waits for the reports already received to be published."""


class DispatchStage(BatchStage):
    """Consumes ``settings.topic_nudges_outbound`` as group ``<group_prefix>-dispatch``, on
    the shared stage runtime (:mod:`streams.runtime`)."""

    stage = "dispatch"

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        self.reports: asyncio.Queue[GatewayReport] = asyncio.Queue()
        self.gateway = build_gateway(settings, self.reports.put_nowait)
        self.recipients = Recipients()
        sender = ReliableSender(self.gateway, deadline=settings.dispatch_deadline_seconds)
        self.batches = BatchSender(
            sender, concurrency=settings.dispatch_concurrency, recipients=self.recipients
        )
        self._waiting: dict[int, asyncio.Future[None]] = {}
        """Callbacks waiting for their report's acknowledgement, by the report's id()."""
        self.journals = Journals(
            journal_dir(settings),
            retention_seconds=settings.dispatch_journal_retention_hours * 3600,
        )
        self._pause = 0.0
        """How long to wait before fetching again: nonzero after a give-back."""
        super().__init__(settings, **kwargs)

    def topics(self) -> list[str]:
        return [self.settings.topic_nudges_outbound]

    def batch_size(self) -> int:
        """One chunk: the nudges sent, produced and committed together."""
        return self.settings.dispatch_concurrency

    def progress(self) -> dict[str, int]:
        return {**self.batches.counts, **self.counts}

    def started_message(self) -> str:
        s = self.settings
        return (
            f"dispatching {s.topic_nudges_outbound} through the {self.gateway.name} gateway → "
            f"{s.topic_nudges_dispatches} (receipts → {s.topic_nudges_receipts}, replies → "
            f"{s.topic_raw})"
        )

    async def on_stop(self) -> None:
        """Let the chunk at the gateway settle, publish the reports already in, and stop; a
        chunk cut short is redone by the next owner, from the journal for what it submitted."""
        try:
            await asyncio.wait_for(self._lock.acquire(), STOP_WAIT_S)
        except TimeoutError:
            # The process exit closes the journals; an entry lost with them leaves its part
            # in doubt: failed after the restart, never sent twice.
            log.warning("stopping with a chunk still at the gateway after %gs", STOP_WAIT_S)
        else:
            try:
                await self.journals.close()
            finally:
                self._lock.release()
        await self.gateway.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.reports.join(), REPORTS_FLUSH_S)
        await super().on_stop()

    async def between_batches(self) -> None:
        """After a give-back, wait before fetching the given-back nudges again."""
        if self._pause:
            await self.sleep(self._pause)

    async def fold(self, fetched: Fetched) -> tuple[Acks, Offsets]:
        """Send one chunk and produce its dispatches; on a give-back, seek its partitions back
        to their first unsettled nudge."""
        s = self.settings
        chunk = {tp: _decoded(records) for tp, records in fetched.items()}
        journals = {tp: await self.journals.get(tp.topic, tp.partition) for tp in chunk}
        settled = await self.batches.send(chunk, journals)
        acks = [
            await self.producer.send(s.topic_nudges_dispatches, encode(d), d.msisdn.encode())
            for part in settled.values()
            for d in part.dispatches
        ]
        offsets = {tp: part.next_offset for tp, part in settled.items()}
        if any(part.given_back for part in settled.values()):
            for tp, offset in offsets.items():
                self.consumer.seek(tp, offset)
            self._pause = min(max(2 * self._pause, 1.0), MAX_PAUSE_S)
            log.warning(
                "gateway still failing after %gs (%s); nudges given back, fetching them again "
                "in %gs", s.dispatch_deadline_seconds, self.batches.last_outage, self._pause,
            )  # fmt: skip
        else:
            self._pause = 0.0
        for journal in journals.values():
            await journal.compact_if_due()
        return acks, offsets

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Let go of the partitions' journals (every chunk in flight is committed by now), for
        another dispatcher on this machine to take them."""
        await self.journals.close()

    @Service.task
    async def _publish_reports(self) -> None:
        """Runs until cancelled, after :meth:`on_stop` has waited for the queue to empty."""
        while True:
            batch = [await self.reports.get()]
            while not self.reports.empty():
                batch.append(self.reports.get_nowait())
            await asyncio.gather(*[await self._publish(report) for report in batch])
            for report in batch:
                waiting = self._waiting.pop(id(report), None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(None)
                self.reports.task_done()

    def published(self, report: GatewayReport) -> asyncio.Future[None]:
        """Resolved once ``report``, just handed to ``on_report``, is acknowledged; ask before
        awaiting anything, so it cannot be published in between."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[id(report)] = done
        return done

    async def _publish(self, report: GatewayReport) -> asyncio.Future[object]:
        s = self.settings
        if isinstance(report, DeliveryReceipt):
            self.counts["receipts"] += 1
            key = report.message_id.encode()
            return await self.producer.send(s.topic_nudges_receipts, encode(report), key)
        self.counts["replies"] += 1
        event = reply_event(report, self.recipients)
        key = national_number(report.msisdn).encode()
        return await self.producer.send(s.topic_raw, encode(event), key)


def _decoded(records: list[ConsumerRecord]) -> list[tuple[int, DecidedNudge | None]]:
    """The approved nudges of a batch; anything else is logged and skipped (None)."""
    nudges: list[tuple[int, DecidedNudge | None]] = []
    for r in records:
        try:
            nudge: DecidedNudge | None = OUTBOUND.decode(r.value or b"")
        except msgspec.DecodeError as e:
            log.error("not a decided nudge at %s:%d:%d: %s", r.topic, r.partition, r.offset, e)
            nudge = None
        if nudge is not None and nudge.decision.outcome != "approved":
            log.error("%s nudge %s at %s:%d:%d is not for sending; skipped",
                      nudge.decision.outcome, nudge.request.nudge_id, r.topic, r.partition,
                      r.offset)  # fmt: skip
            nudge = None
        nudges.append((r.offset, nudge))
    return nudges


def add_callback_page(app: faust.App, stage: DispatchStage) -> None:
    """``POST /sms/callback``: the webhook gateway's receipts and replies, when it is the one.

    Answered 202 once the report's record is acknowledged by the broker, 400 for a body that
    is neither, 401 without the callback token (and to everyone when no token is set: callbacks
    fail closed), 503 if the broker is slow.
    """
    if not isinstance(stage.gateway, WebhookGateway):
        return
    webhook = stage.gateway
    token = stage.settings.sms_callback_token.get_secret_value()

    @app.page(CALLBACK_PATH)
    class SmsCallback(View):
        async def post(self, request: Request) -> Response:
            given = request.headers.get("Authorization", "")
            if not token:
                return self.error(401, "callbacks are refused: no callback token is configured")
            if not hmac.compare_digest(given, f"Bearer {token}"):
                return self.error(401, "missing or wrong bearer token")
            try:
                report = webhook.accept_callback(await request.read())
            except msgspec.DecodeError as e:
                return self.error(400, f"neither a receipt nor a reply callback: {e}")
            try:
                await asyncio.wait_for(stage.published(report), CALLBACK_ACK_S)
            except TimeoutError:
                return self.error(503, "not recorded yet; send it again")
            return self.json({"accepted": type(report).__name__}, status=202)
