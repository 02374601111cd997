"""The dispatch stage: approved nudges → the SMS gateway → ``nudges.dispatches``; the gateway's
receipts → ``nudges.receipts`` and its subscribers' replies → the raw topic.

A batched aiokafka loop inside the faust worker, like :mod:`streams.nudges`. Group
``<group_prefix>-dispatch`` reads ``settings.topic_nudges_outbound`` (approved nudges, keyed
by MSISDN). A fetched batch is cut into chunks of ``dispatch_concurrency`` records; per chunk:
send every nudge through :class:`streams.dispatch_core.BatchSender`, each submission through
the partition's send journal (:mod:`orchestration.dispatch.journal`, durable before the
gateway sees it), produce a ``Dispatch`` (sent with its message ids, or failed with the
gateway's refusal or ``unknown_after_crash``) for each settled one, wait for the broker's
acknowledgements, then commit. So a crash leaves at most one chunk uncommitted, and what it
had handed to the gateway is answered from the journal, never submitted again.

A gateway that stays down past ``dispatch_deadline_seconds`` gets the rest of the batch
given back: not produced, not committed, the consumer seeks back to them and fetches them
again after a pause that doubles up to :data:`MAX_PAUSE_S`. Nothing is lost, and nothing is
sent twice: the journal says what the gateway took and what it certainly did not.

A rebalance waits for the chunk in flight (its sends are bounded by the sender's deadline),
commits it and closes the partitions' journals before they move; the rest of the batch is
left to whoever owns them next, which reads the same journals if it runs on this machine.

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
import time
from collections import Counter

import faust
import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError
from faust.web import Request, Response, View
from mode import Service

from channelhub.settings import Settings
from orchestration.dispatch import (
    DeliveryReceipt,
    GatewayReport,
    Journals,
    ReliableSender,
    WebhookGateway,
    build_gateway,
)
from orchestration.dispatch.factory import journal_dir
from streams import kafka
from streams.dispatch_core import (
    OUTBOUND,
    BatchSender,
    Recipients,
    chunks,
    encode,
    national_number,
    reply_event,
)
from streams.nudge_core import DecidedNudge

log = logging.getLogger(__name__)

MAX_PAUSE_S = 30.0
"""The longest wait before fetching given-back nudges again."""
CALLBACK_PATH = "/sms/callback"
CALLBACK_ACK_S = 10.0
"""How long a callback waits for the broker before answering 503 (the aggregator retries)."""
STOP_WAIT_S = 5.0
"""How long stopping waits for the chunk in flight before it stops anyway."""
REPORTS_FLUSH_S = 3.0
"""How long stopping waits for the reports already received to be published."""


class DispatchStage(Service):
    """Consumes ``settings.topic_nudges_outbound`` as group ``<group_prefix>-dispatch``."""

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        self.settings = settings
        self.reports: asyncio.Queue[GatewayReport] = asyncio.Queue()
        self.gateway = build_gateway(settings, self.reports.put_nowait)
        self.recipients = Recipients()
        sender = ReliableSender(self.gateway, deadline=settings.dispatch_deadline_seconds)
        self.batches = BatchSender(
            sender, concurrency=settings.dispatch_concurrency, recipients=self.recipients
        )
        self.reported: Counter[str] = Counter()
        self._waiting: dict[int, asyncio.Future[None]] = {}
        """Callbacks waiting for their report's acknowledgement, by the report's id()."""
        self.journals = Journals(
            journal_dir(settings),
            retention_seconds=settings.dispatch_journal_retention_hours * 3600,
        )
        self._lock = asyncio.Lock()
        self._generation = 0
        """Counts rebalances: a batch fetched before the last one is not sent any further."""
        self._uncommitted: dict[TopicPartition, int] = {}
        self._pause = 0.0
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        super().__init__(**kwargs)  # type: ignore[arg-type]

    @property
    def counts(self) -> dict[str, int]:
        return {**self.batches.counts, **self.reported}

    async def on_start(self) -> None:
        s = self.settings
        self._producer = kafka.producer(s)
        self._consumer = kafka.consumer(s, "dispatch")
        await self._producer.start()
        await self._consumer.start()
        self._consumer.subscribe([s.topic_nudges_outbound], listener=_Rebalance(self))
        log.info(
            "dispatching %s through the %s gateway → %s (receipts → %s, replies → %s)",
            s.topic_nudges_outbound, self.gateway.name, s.topic_nudges_dispatches,
            s.topic_nudges_receipts, s.topic_raw,
        )  # fmt: skip

    async def on_stop(self) -> None:
        """Commit what is settled, publish the reports already in, and stop; a chunk still
        in flight is redone by the next owner, from the journal for what it had submitted."""
        try:
            await asyncio.wait_for(self._lock.acquire(), STOP_WAIT_S)
        except TimeoutError:
            # The process exit closes the journals; an entry lost with them leaves its part
            # in doubt: failed after the restart, never sent twice.
            log.warning("stopping with a chunk still at the gateway after %gs", STOP_WAIT_S)
        else:
            try:
                self._generation += 1
                await self.journals.close()
            finally:
                self._lock.release()
        if self._consumer is not None:
            await self._commit()
            await self._consumer.stop()
        await self.gateway.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.reports.join(), REPORTS_FLUSH_S)
        if self._producer is not None:
            await self._producer.stop()
        log.info("stopped after %s", self.counts)

    @Service.task
    async def _dispatch(self) -> None:
        assert self._consumer is not None
        last_report = time.monotonic()
        while not self.should_stop:
            fetched = await self._consumer.getmany(
                timeout_ms=int(self.settings.worker_batch_seconds * 1000),
                max_records=self.settings.worker_batch_size,
            )
            if fetched:
                await self._pause_after(await self._process(fetched))
            if time.monotonic() - last_report > 30:
                log.info("dispatched so far: %s", self.counts)
                last_report = time.monotonic()

    async def _process(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> bool:
        """Send a batch chunk by chunk, publishing and committing each; return whether the
        rest of it was given back."""
        generation = self._generation
        batch = {tp: _decoded(records) for tp, records in fetched.items()}
        # Per partition, the first offset not settled yet: where a give-back seeks.
        resume = {tp: nudges[0][0] for tp, nudges in batch.items()}
        for chunk in chunks(batch, self.settings.dispatch_concurrency):
            async with self._lock:
                if self._generation != generation:
                    return False  # rebalanced: the owners start from the committed offsets
                given_back = await self._send(chunk, resume)
            await self._commit()
            if given_back:
                return True
        return False

    async def _send(
        self, chunk: dict[TopicPartition, list[tuple[int, DecidedNudge | None]]],
        resume: dict[TopicPartition, int],
    ) -> bool:  # fmt: skip
        """Send one chunk and publish its dispatches; on a give-back, seek every partition of
        the batch back to its first unsettled record. Holds the batch lock."""
        assert self._consumer is not None
        assert self._producer is not None
        s = self.settings
        journals = {tp: await self.journals.get(tp.topic, tp.partition) for tp in chunk}
        settled = await self.batches.send(chunk, journals)
        pending = [
            await self._producer.send(s.topic_nudges_dispatches, encode(d), d.msisdn.encode())
            for part in settled.values()
            for d in part.dispatches
        ]
        await asyncio.gather(*pending)
        for tp, part in settled.items():
            self._uncommitted[tp] = resume[tp] = part.next_offset
        given_back = any(part.given_back for part in settled.values())
        if given_back:
            assigned = self._consumer.assignment()
            for tp, offset in resume.items():
                if tp in assigned:
                    self._consumer.seek(tp, offset)
        for journal in journals.values():
            await journal.compact_if_due()
        return given_back

    async def _pause_after(self, given_back: bool) -> None:
        if not given_back:
            self._pause = 0.0
            return
        self._pause = min(max(2 * self._pause, 1.0), MAX_PAUSE_S)
        log.warning(
            "gateway still failing after %gs (%s); nudges given back, fetching them again "
            "in %gs", self.settings.dispatch_deadline_seconds, self.batches.last_outage,
            self._pause,
        )  # fmt: skip
        await self.sleep(self._pause)

    async def _commit(self) -> None:
        """Commit outside the batch lock: a rebalance waiting for the lock must not block it."""
        assert self._consumer is not None
        commit, self._uncommitted = self._uncommitted, {}
        if not commit:
            return
        try:
            await self._consumer.commit(commit)
        except (CommitFailedError, IllegalStateError) as e:
            log.warning("commit after a rebalance failed (%s); the next owner fetches the "
                        "chunk again and answers it from the journal", e)  # fmt: skip

    async def revoked(self) -> None:
        """Let the chunk in flight finish and commit it before the partitions move, and let
        go of their journals, for another dispatcher on this machine to take them."""
        async with self._lock:
            await self._commit()
            self._generation += 1
            await self.journals.close()

    @Service.task
    async def _publish_reports(self) -> None:
        """Runs until cancelled, after :meth:`on_stop` has waited for the queue to empty."""
        assert self._producer is not None
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
        assert self._producer is not None
        s = self.settings
        if isinstance(report, DeliveryReceipt):
            self.reported["receipts"] += 1
            key = report.message_id.encode()
            return await self._producer.send(s.topic_nudges_receipts, encode(report), key)
        self.reported["replies"] += 1
        event = reply_event(report, self.recipients)
        key = national_number(report.msisdn).encode()
        return await self._producer.send(s.topic_raw, encode(event), key)


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


class _Rebalance(ConsumerRebalanceListener):
    """aiokafka awaits this before the partitions move: the chunk in flight is committed."""

    def __init__(self, stage: DispatchStage) -> None:
        self.stage = stage

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.stage.revoked()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Nothing to restore: the committed offsets say where to go on."""


def add_callback_page(app: faust.App, stage: DispatchStage) -> None:
    """``POST /sms/callback``: the webhook gateway's receipts and replies, when it is the one.

    Answered 202 once the report's record is acknowledged by the broker, 400 for a body that
    is neither, 401 without the callback token (when one is set), 503 if the broker is slow.
    """
    if not isinstance(stage.gateway, WebhookGateway):
        return
    webhook = stage.gateway
    token = stage.settings.sms_callback_token.get_secret_value()

    @app.page(CALLBACK_PATH)
    class SmsCallback(View):
        async def post(self, request: Request) -> Response:
            given = request.headers.get("Authorization", "")
            if token and not hmac.compare_digest(given, f"Bearer {token}"):
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
