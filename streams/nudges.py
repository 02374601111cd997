"""The nudge stage: canonical events → nudge requests, guardrail decisions and outbound SMS.

A batched aiokafka loop inside the faust worker, like :mod:`streams.validator` and for the
same reason (faust's per-event scheduling caps an agent near 9k events/s). Group
``<group_prefix>-nudges`` reads ``settings.topic_events``; events are keyed by MSISDN, so each
subscriber's events arrive in order on one partition, and each partition is folded by
:class:`streams.nudge_core.NudgeCore` on its own state.

It also reads ``campaigns.requests`` (co-partitioned: chunk p holds the campaign audience of
events partition p), and re-reads its rule directory every ``rules_reload_seconds``, so edited
rules apply without a restart and a broken file only logs its error.

Per batch: fold every partition's records, produce every request (``nudges.requested``),
every decision (``nudges.decisions``), the approved ones (``nudges.outbound``), conversions
(``nudges.conversions``), opt-outs (``nudges.optouts``), the changed subscribers and a
checkpoint per partition (the changelog, :mod:`streams.state_store`), wait for all
acknowledgements, then commit the offsets. The changelog checkpoint, not the
committed offset, says where a partition's state stands: on assignment the stage restores it
and seeks there. A crash before the acknowledgements makes the next owner redo the batch from
the same state, producing the same records (same nudge ids, same event-time decisions), which
the sink collapses and the dispatcher sends once per nudge id. Campaign requests are
not in the checkpoint: a re-delivered chunk asks for the same nudge ids, which the guardrails
recognise as duplicates.
"""

import asyncio
import dataclasses
import logging
import time
from collections import Counter

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError
from mode import Service

from channelhub.errors import ChannelhubError
from channelhub.settings import Settings
from orchestration.campaigns.records import CampaignRequest
from orchestration.guardrails import GuardrailPolicy, RateLimit
from orchestration.rules import SHIPPED_RULES_DIR
from orchestration.rules.reload import RuleDirectory
from schemas import Rejection, validate
from schemas.events import Event
from sinks.pseudonym import Pseudonymizer
from streams import kafka
from streams.acks import InFlight
from streams.nudge_core import NudgeCore, Outputs, PartitionNudges
from streams.state_store import changelog, encode, restore

log = logging.getLogger(__name__)


def partition_policy(settings: Settings) -> GuardrailPolicy:
    """The guardrail policy of one partition: its even share of the gateway's rate.

    Each partition keeps its own token bucket in its changelog, so a decision depends only on
    that partition's events: deterministic under replay and rebalance, with no coordination
    between workers. Campaign budgets are not applied here (campaign fan-out owns them).
    """
    share = settings.nudge_rate_per_second / settings.topic_partitions
    return GuardrailPolicy(rate_limit=RateLimit(per_second=share, burst=max(1, round(share))))


class NudgeStage(Service):
    """Consumes ``settings.topic_events`` as group ``<group_prefix>-nudges``."""

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        self.settings = settings
        self.rules = RuleDirectory(settings.rules_dir or SHIPPED_RULES_DIR)
        self.core = NudgeCore(
            rules=self.rules.rules,
            policy=partition_policy(settings),
            pseudonymize=Pseudonymizer(settings.pseudonym_key.get_secret_value().encode()),
        )
        self.parts: dict[int, PartitionNudges] = {}
        self.counts: Counter[str] = Counter()
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._in_flight = InFlight(self._commit)
        super().__init__(**kwargs)  # type: ignore[arg-type]

    async def on_start(self) -> None:
        s = self.settings
        self._producer = kafka.producer(s)
        self._consumer = kafka.consumer(s, "nudges")
        await self._producer.start()
        await self._consumer.start()
        self._consumer.subscribe(
            [s.topic_events, s.topic_campaign_requests], listener=_Rebalance(self)
        )
        log.info(
            "nudging from %s and %s with rules %s from %s → %s, %s, %s (state in %s)",
            s.topic_events, s.topic_campaign_requests, [r.id for r in self.core.rules],
            self.rules.directory, s.topic_nudges_requested, s.topic_nudges_decisions,
            s.topic_nudges_outbound, s.topic_nudges_state,
        )  # fmt: skip

    async def on_stop(self) -> None:
        await self._in_flight.drain()
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        log.info("stopped after %s", dict(self.counts))

    @Service.task
    async def _nudge(self) -> None:
        assert self._consumer is not None
        last_report = last_reload = time.monotonic()
        while not self.should_stop:
            if time.monotonic() - last_reload > self.settings.rules_reload_seconds:
                last_reload = time.monotonic()
                await self._reload_rules()
            fetched = await self._consumer.getmany(
                timeout_ms=int(self.settings.worker_batch_seconds * 1000),
                max_records=self.settings.worker_batch_size,
            )
            if fetched:
                async with self._lock:
                    acks, commit = await self._process(fetched)
                # The next batch is folded while this one's records are acknowledged.
                await self._in_flight.add(acks, commit)
            if time.monotonic() - last_report > 30:
                log.info("nudges so far: %s", dict(self.counts))
                last_report = time.monotonic()

    async def _reload_rules(self) -> None:
        """Swap in the rule directory's current rules, between batches."""
        changed = await asyncio.to_thread(self.rules.poll)
        if changed:
            async with self._lock:
                self.core = dataclasses.replace(self.core, rules=self.rules.rules)
            log.info(
                "rules reloaded from %s: %s (%d files rejected)", self.rules.directory,
                [r.id for r in self.core.rules], len(self.rules.errors),
            )  # fmt: skip

    async def _process(
        self, fetched: dict[TopicPartition, list[ConsumerRecord]]
    ) -> tuple[list[asyncio.Future[object]], dict[TopicPartition, int]]:
        """Fold and publish a batch; return its acknowledgements and the offsets to commit
        once they are all in."""
        pending: list[asyncio.Future[object]] = []
        commit: dict[TopicPartition, int] = {}
        horizon_ms = int((time.time() + self.settings.clock_skew_seconds) * 1000)
        for tp, records in fetched.items():
            part = self.parts.get(tp.partition)
            if part is None:  # revoked while this batch was fetched
                continue
            if tp.topic == self.settings.topic_campaign_requests:
                out = self._campaign(part, records)
            else:
                out = self.core.process(part, _decoded(records), horizon_ms=horizon_ms)
            pending += await self._publish(tp.partition, part, out)
            commit[tp] = records[-1].offset + 1
            self.counts.update(
                requested=len(out.requests), decided=len(out.decided),
                approved=len(out.approved), skipped=out.skipped,
                conversions=len(out.conversions), opt_outs=len(out.opt_outs),
                unknown_campaign_subscribers=out.unknown_subscribers,
            )  # fmt: skip
        return pending, commit

    def _campaign(self, part: PartitionNudges, records: list[ConsumerRecord]) -> Outputs:
        """Decide every audience chunk of a batch of ``campaigns.requests``."""
        merged = Outputs()
        for r in records:
            try:
                request = _campaign_request(r.value or b"")
                out = self.core.process_campaign(part, request)
            except (msgspec.ValidationError, ChannelhubError) as e:
                log.error("campaign request at %s:%d:%d refused: %s", r.topic, r.partition,
                          r.offset, e)  # fmt: skip
                continue
            if out.unknown_subscribers:
                log.warning(
                    "campaign %s: %d audience members have no events on partition %d",
                    request.campaign_id, out.unknown_subscribers, r.partition,
                )  # fmt: skip
            merged.requests += out.requests
            merged.decided += out.decided
            merged.changed |= out.changed
            merged.unknown_subscribers += out.unknown_subscribers
        return merged

    async def _commit(self, commit: dict[TopicPartition, int]) -> None:
        """Commit outside the lock: a rebalance waiting for the lock must not block it."""
        assert self._consumer is not None
        try:
            await self._consumer.commit(commit)
        except (CommitFailedError, IllegalStateError) as e:
            # Harmless: the changelog checkpoint already says where the state stands.
            log.warning("commit after a rebalance failed (%s); the checkpoint holds", e)

    async def _publish(
        self, partition: int, part: PartitionNudges, out: Outputs
    ) -> list[asyncio.Future[object]]:
        """Send one partition's outputs and its changelog; return the acknowledgements."""
        assert self._producer is not None
        s, send = self.settings, self._producer.send
        futures = [
            await send(s.topic_nudges_requested, encode(r), r.msisdn.encode()) for r in out.requests
        ]
        for d in out.decided:
            key, value = d.request.msisdn.encode(), encode(d)
            futures.append(await send(s.topic_nudges_decisions, value, key))
            if d.decision.outcome == "approved":
                futures.append(await send(s.topic_nudges_outbound, value, key))
        for c in out.conversions:
            futures.append(await send(s.topic_nudges_conversions, encode(c), c.msisdn.encode()))
        for o in out.opt_outs:
            futures.append(await send(s.topic_nudges_optouts, encode(o), o.msisdn.encode()))
        for key, record in changelog(part, out.changed):
            futures.append(await send(s.topic_nudges_state, record, key, partition=partition))
        return futures

    async def assigned(self, partitions: list[int]) -> None:
        """Restore the state of newly assigned partitions and seek to their checkpoints."""
        assert self._consumer is not None
        assert self._producer is not None
        s = self.settings
        async with self._lock:
            started = time.monotonic()
            restored = await restore(s.kafka_bootstrap, s.topic_nudges_state, partitions,
                                     self._producer)  # fmt: skip
            for p, part in restored.items():
                self.parts[p] = part
                if part.next_offset:
                    self._consumer.seek(TopicPartition(s.topic_events, p), part.next_offset)
            log.info(
                "restored partitions %s in %.1fs: %s", partitions, time.monotonic() - started,
                {p: (len(part.subscribers), part.next_offset) for p, part in restored.items()},
            )  # fmt: skip

    async def revoked(self, partitions: list[int]) -> None:
        """Forget revoked partitions, after every batch in progress has been published and
        committed."""
        async with self._lock:
            await self._in_flight.drain()
            for p in partitions:
                self.parts.pop(p, None)


_campaign_request = msgspec.json.Decoder(CampaignRequest).decode


def _decoded(records: list[ConsumerRecord]) -> list[tuple[int, Event]]:
    """The canonical events of a batch (valid by construction; anything else is skipped)."""
    events = []
    for r in records:
        event = validate(r.value or b"")
        if isinstance(event, Rejection):
            log.error("not a canonical event at %s:%d:%d: %s", r.topic, r.partition, r.offset,
                      event)  # fmt: skip
            continue
        events.append((r.offset, event))
    return events


class _Rebalance(ConsumerRebalanceListener):
    """aiokafka awaits these before fetching resumes: partitions are restored before use."""

    def __init__(self, stage: NudgeStage) -> None:
        self.stage = stage

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.stage.revoked(self._events(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        partitions = self._events(assigned)
        if partitions:
            await self.stage.assigned(partitions)

    def _events(self, tps: set[TopicPartition]) -> list[int]:
        """The ``channel.events`` partitions among ``tps``: state is kept per events partition,
        and range assignment gives the same numbers of ``campaigns.requests`` alongside."""
        return sorted(tp.partition for tp in tps if tp.topic == self.stage.settings.topic_events)
