"""The campaign fan-out: a triggered campaign → audience chunks on ``campaigns.requests``.

A stage on the shared batched runtime (:mod:`streams.runtime`) in its own worker
(``python -m streams --stage campaigns``), group ``<group_prefix>-campaigns`` on
``settings.topic_campaigns``. Lifecycle events are keyed by
campaign id, so a campaign's ``CampaignCreated`` precedes its triggers on one partition.

On assignment each partition is read from its start again: ``CampaignCreated`` events fill
the in-memory specs (the topic is small: a few events per campaign), and the committed offset
says which triggers are done. A trigger at or after it starts a task that waits, on the wall
clock, until ``scheduled_at``, selects the members as of that time in ClickHouse (in a
thread: the driver blocks), produces the chunks :func:`orchestration.campaigns.fanout.plan`
cuts, each to its partition, and waits for every acknowledgement. Only then may the offset
move past the trigger: a partition commits up to its oldest trigger still waiting or fanning
out. So a trigger scheduled for tomorrow holds back the commits of later ones on its
partition; after a restart those are fanned out again, with the same trigger ids, hence the
same nudge ids, which the nudge stage's guardrails drop as repeats.

ClickHouse or the broker failing mid-fan-out means the whole trigger is retried with backoff;
a trigger that cannot run (its campaign never created, the partition counts disagree) is
logged as an error and passed over.
"""

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from channelhub.marketing import audience
from kernel.errors import ConfigError, StorageError
from kernel.settings import Settings
from orchestration.campaigns.fanout import plan
from schemas import campaigns as campaign_events
from schemas.campaign_spec import CampaignSpec
from schemas.campaigns import CampaignCreated, CampaignTriggered
from sinks.client import connect, database_name
from streams.acks import Offsets
from streams.runtime import Acks, BatchStage, Fetched

log = logging.getLogger(__name__)

#: Longest pause between attempts at a trigger whose fan-out failed.
MAX_BACKOFF_S = 60.0


@dataclass
class _Partition:
    """One assigned partition of ``campaigns.events``: what is read, running and committed."""

    #: The committed offset at assignment: every trigger before it was fanned out already.
    done_before: int
    committed: int
    read_to: int = 0
    #: Trigger offset → its task, while it waits or fans out.
    running: dict[int, asyncio.Task[None]] = field(default_factory=dict)

    def advance(self, tp: TopicPartition) -> Offsets:
        """The offset to commit, if it moved: everything before the oldest running trigger
        (or everything read) is done."""
        safe = min(self.running, default=self.read_to)
        if safe <= self.committed:
            return {}
        self.committed = safe
        return {tp: safe}


class CampaignFanOut(BatchStage):
    """Consumes ``settings.topic_campaigns`` as group ``<group_prefix>-campaigns``, on the
    shared stage runtime (:mod:`streams.runtime`)."""

    stage = "campaigns"

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        #: Campaign id → the event that created it (the first one, if created twice).
        self.created: dict[str, CampaignCreated] = {}
        self.parts: dict[int, _Partition] = {}
        super().__init__(settings, **kwargs)

    def topics(self) -> list[str]:
        return [self.settings.topic_campaigns]

    def started_message(self) -> str:
        s = self.settings
        return f"fanning out {s.topic_campaigns} → {s.topic_campaign_requests}"

    async def on_stop(self) -> None:
        for part in self.parts.values():
            await _cancel(part.running.values())
        await super().on_stop()

    async def fold(self, fetched: Fetched) -> tuple[Acks, Offsets]:
        """Read the batch: specs are kept, triggers start their tasks. Nothing is produced
        here; each partition may commit up to its oldest trigger still running."""
        offsets: Offsets = {}
        for tp, records in fetched.items():
            part = self.parts.get(tp.partition)
            if part is None:  # revoked while this batch was fetched
                continue
            for record in records:
                self._read(tp, part, record)
            part.read_to = records[-1].offset + 1
            offsets.update(part.advance(tp))
        return [], offsets

    def _read(self, tp: TopicPartition, part: _Partition, record: ConsumerRecord) -> None:
        try:
            event = campaign_events.decode(record.value or b"")
        except msgspec.DecodeError as e:
            log.error("not a campaign event at %s:%d:%d: %s", tp.topic, tp.partition,
                      record.offset, e)  # fmt: skip
            return
        if isinstance(event, CampaignCreated):
            first = self.created.setdefault(event.campaign_id, event)
            if first.event_id != event.event_id:
                log.warning("campaign %s created again at offset %d; the first spec stays",
                            event.campaign_id, record.offset)  # fmt: skip
            return
        if record.offset < part.done_before:
            return
        created = self.created.get(event.campaign_id)
        if created is None:
            log.error("trigger %s of unknown campaign %s at offset %d: passed over",
                      event.trigger_id, event.campaign_id, record.offset)  # fmt: skip
            return
        self.counts["triggers"] += 1
        task = asyncio.create_task(self._run(tp, part, record.offset, created, event))
        task.add_done_callback(_report)
        part.running[record.offset] = task

    async def _run(
        self, tp: TopicPartition, part: _Partition, offset: int, created: CampaignCreated,
        trigger: CampaignTriggered,
    ) -> None:  # fmt: skip
        """Wait for the scheduled time, fan out (retrying), then let the offset move on."""
        spec = created.spec
        wait = (trigger.scheduled_at - datetime.now(UTC)).total_seconds()
        if wait > 0:
            log.info("trigger %s of %s waits %.0fs until %s", trigger.trigger_id, spec.id, wait,
                     trigger.scheduled_at.isoformat())  # fmt: skip
            await asyncio.sleep(wait)
        attempt = 0
        while True:
            try:
                await self._fan_out(created, trigger)
                break
            except ConfigError as e:
                log.error("trigger %s of %s cannot run: %s", trigger.trigger_id, spec.id, e)
                break
            except (StorageError, KafkaError) as e:
                pause = min(MAX_BACKOFF_S, 2.0**attempt)
                attempt += 1
                log.warning("fan-out of trigger %s failed (%s); retrying in %.0fs",
                            trigger.trigger_id, e, pause)  # fmt: skip
                await asyncio.sleep(pause)
        del part.running[offset]
        await self.commit(part.advance(tp))

    async def _fan_out(self, created: CampaignCreated, trigger: CampaignTriggered) -> None:
        s, spec = self.settings, created.spec
        members = await asyncio.to_thread(self._members, spec, trigger.scheduled_at)
        requests = plan(
            spec, trigger, members, s.topic_partitions, template_version=created.template_version
        )
        key = spec.id.encode()
        acks = [
            await self.producer.send(
                s.topic_campaign_requests, msgspec.json.encode(r), key, partition=p
            )
            for p, r in requests
        ]
        await asyncio.gather(*acks)
        self.counts.update(members=len(members), requests=len(requests))
        log.info("trigger %s of %s: %d members in %d chunks", trigger.trigger_id, spec.id,
                 len(members), len(requests))  # fmt: skip

    def _members(self, spec: CampaignSpec, as_of: datetime) -> list[tuple[str, int]]:
        client = connect(self.settings)
        try:
            return list(
                audience.members(client, database_name(self.settings), spec.audience, as_of)
            )
        finally:
            client.disconnect()

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Read each partition from its start: specs first, triggers from the committed offset."""
        for tp in assigned:
            committed = await self.consumer.committed(tp) or 0
            self.parts[tp.partition] = _Partition(done_before=committed, committed=committed)
            self.consumer.seek(tp, 0)  # before the log start, "earliest" resets to it
        log.info("assigned %s", {p: self.parts[p].done_before for p in sorted(self.parts)})

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Stop what waits or runs on revoked partitions: their next owner redoes it."""
        for tp in revoked:
            part = self.parts.pop(tp.partition, None)
            if part is not None:
                await _cancel(part.running.values())


async def _cancel(tasks: Iterable[asyncio.Task[None]]) -> None:
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _report(task: asyncio.Task[None]) -> None:
    """A fan-out that died of a bug stays uncommitted (redone after a restart): say so."""
    if not task.cancelled() and task.exception() is not None:
        log.error("fan-out task failed; its trigger stays uncommitted", exc_info=task.exception())
