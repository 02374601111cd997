"""The nudge stage: canonical events → nudge requests, guardrail decisions and outbound SMS.

A stage on the shared batched runtime (:mod:`streams.runtime`), like the validator: faust
hosts the process, but no faust agent or table runs here. Group ``<group_prefix>-nudges``
reads ``settings.topic_events``; events are keyed by MSISDN, so each subscriber's events
arrive in order on one partition, and each partition is folded by
:class:`streams.nudge_core.NudgeCore` on its own state.

It also reads ``campaigns.requests`` (co-partitioned: chunk p holds the campaign audience of
events partition p), and re-reads its rule directory every ``rules_reload_seconds``, so edited
rules apply without a restart and a broken file only logs its error. As often it follows the
service catalogue (``channel.catalogue``): the self-service ways the rules suggest and the
goals count are those open now (:mod:`orchestration.rules.guidance`), and a request whose text
names an SMS code retired by its decision's time is suppressed as ``retired_service`` (the
catalogue is read afresh before a batch of campaign requests). At the same pace it
follows ``channel.content`` (:mod:`streams.content`): once publishing is in force, a rule
runs only with a published version of its template, and its nudges carry that version
(:mod:`orchestration.content.gate`).

Per batch: fold every partition's records, produce every request (``nudges.requested``), every
decision (``nudges.decisions``), the approved ones (``nudges.outbound``), conversions
(``nudges.conversions``), opt-outs (``nudges.optouts``), contacts (``channel.contacts``), IVR
call summaries (``ivr.calls``), SMS dialogue summaries (``sms.dialogues``), the changed
subscribers and a checkpoint per partition (the changelog, :mod:`streams.state_store`), wait
for all acknowledgements, then commit the offsets. The changelog checkpoint, not the committed
offset, says where a partition's state stands: on assignment the stage restores it and seeks
there. A crash before the acknowledgements makes the
next owner redo the batch from the same state, producing the same records (same nudge ids, same
event-time decisions), which the sink collapses and the dispatcher sends once per nudge id.
Campaign requests are not in the checkpoint: a re-delivered chunk asks for the same nudge ids,
which the guardrails recognise as duplicates.
"""

import asyncio
import dataclasses
import logging
import math
import time
from datetime import datetime

import msgspec
from aiokafka import ConsumerRecord, TopicPartition

from channelhub.catalogue.store import live_ways
from kernel.errors import ChannelhubError
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from orchestration.content.gate import binder
from orchestration.guardrails import GuardrailPolicy, RateLimit
from orchestration.rules import SHIPPED_RULES_DIR
from orchestration.rules.reload import RuleDirectory
from schemas import Rejection, validate
from schemas.campaigns import CampaignRequest
from schemas.events import Event
from streams.acks import Offsets
from streams.content import PublishedContent
from streams.nudge_core import NudgeCore, Outputs, PartitionNudges
from streams.produce import send_records
from streams.runtime import Acks, BatchStage, Fetched
from streams.state_store import changelog, restore

log = logging.getLogger(__name__)


def partition_policy(settings: Settings) -> GuardrailPolicy:
    """The guardrail policy of one partition: its even share of the gateway's rate.

    Each partition keeps its own token bucket in its changelog, so a decision depends only on
    that partition's events: deterministic under replay and rebalance, with no coordination
    between workers. Campaign budgets are not applied here (campaign fan-out owns them).
    """
    share = settings.nudge_rate_per_second / settings.topic_partitions
    return GuardrailPolicy(rate_limit=RateLimit(per_second=share, burst=max(1, round(share))))


class NudgeStage(BatchStage):
    """Consumes ``settings.topic_events`` and ``campaigns.requests`` as group
    ``<group_prefix>-nudges``, on the shared stage runtime (:mod:`streams.runtime`)."""

    stage = "nudges"

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        self.rules = RuleDirectory(settings.rules_dir or SHIPPED_RULES_DIR)
        self.ways = live_ways(settings, f"{settings.group_prefix}-nudges-catalogue")
        self.core = NudgeCore(
            rules=self.rules.rules,
            policy=partition_policy(settings),
            pseudonymize=Pseudonymizer.from_settings(settings),
            retired_codes=self._retired_codes,
        )
        self.parts: dict[int, PartitionNudges] = {}
        self.published = PublishedContent(settings)
        self._last_reload = -math.inf  # the first batch waits for the published content
        super().__init__(settings, **kwargs)

    def topics(self) -> list[str]:
        return [self.settings.topic_events, self.settings.topic_campaign_requests]

    def started_message(self) -> str:
        s = self.settings
        return (
            f"nudging from {s.topic_events} and {s.topic_campaign_requests} with rules "
            f"{[r.id for r in self.core.rules]} from {self.rules.directory} → "
            f"{s.topic_nudges_requested}, {s.topic_nudges_decisions}, "
            f"{s.topic_nudges_outbound}, {s.topic_contacts}, {s.topic_calls}, "
            f"{s.topic_dialogues} "
            f"(state in {s.topic_nudges_state})"
        )

    async def between_batches(self) -> None:
        """Swap in the catalogue's self-service ways, and the rule directory's current rules
        bound to the published content, every ``rules_reload_seconds``."""
        await asyncio.to_thread(self.ways.poll)
        if time.monotonic() - self._last_reload <= self.settings.rules_reload_seconds:
            return
        first = self._last_reload == -math.inf
        self._last_reload = time.monotonic()
        published = await asyncio.to_thread(self.published.poll)
        if published:
            self.rules.bind = binder(self.published.content)
        elif first:
            log.warning(
                "%s holds no record: publishing is not in force, rule templates are not "
                "checked (`channelhub content seed` starts it)",
                self.settings.topic_content,
            )
        changed = await asyncio.to_thread(self.rules.poll, force=published)
        if changed:
            async with self._lock:
                self.core = dataclasses.replace(self.core, rules=self.rules.rules)
            log.info(
                "rules reloaded from %s: %s (%d files rejected)", self.rules.directory,
                [r.id for r in self.core.rules], len(self.rules.errors),
            )  # fmt: skip

    def _retired_codes(self, text: str, at: datetime) -> list[str]:
        """The codes ``text`` names that the followed catalogue had retired at ``at``."""
        return self.ways.follower.catalogue.retired_codes_in(text, at)

    async def on_stop(self) -> None:
        self.published.close()
        await super().on_stop()

    async def fold(self, fetched: Fetched) -> tuple[Acks, Offsets]:
        """Fold and publish a batch; return its acknowledgements and the offsets to commit
        once they are all in."""
        pending: list[asyncio.Future[object]] = []
        commit: dict[TopicPartition, int] = {}
        horizon_ms = int((time.time() + self.settings.clock_skew_seconds) * 1000)
        if any(tp.topic == self.settings.topic_campaign_requests for tp in fetched):
            # A campaign is decided at its scheduled time: a retirement written just before
            # it must be known, not only at the next poll.
            await asyncio.to_thread(self.ways.poll, force=True)
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
                contacts=len(out.contacts), calls=len(out.calls), dialogues=len(out.dialogues),
                unknown_campaign_subscribers=out.unknown_subscribers, evicted=out.evicted,
            )  # fmt: skip
        return pending, commit

    def _campaign(self, part: PartitionNudges, records: list[ConsumerRecord]) -> Outputs:
        """Decide every audience chunk of a batch of ``campaigns.requests``."""
        merged = Outputs()
        for r in records:
            try:
                request = _campaign_request(r.value or b"")
                out = self.core.process_campaign(part, request)
            except (msgspec.DecodeError, ChannelhubError) as e:  # DecodeError: any bad bytes
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
            merged.unknown_subscribers += out.unknown_subscribers
        return merged

    async def _publish(
        self, partition: int, part: PartitionNudges, out: Outputs
    ) -> list[asyncio.Future[object]]:
        """Send one partition's outputs and its changelog; return the acknowledgements."""
        s, producer = self.settings, self.producer
        decided = [(d.request.msisdn.encode(), _json(d)) for d in out.decided]
        approved = [
            record
            for record, d in zip(decided, out.decided, strict=True)
            if d.decision.outcome == "approved"
        ]
        outputs = {
            s.topic_nudges_requested: [(r.msisdn.encode(), _json(r)) for r in out.requests],
            s.topic_nudges_decisions: decided,
            s.topic_nudges_outbound: approved,
            s.topic_nudges_conversions: [(c.msisdn.encode(), _json(c)) for c in out.conversions],
            s.topic_nudges_optouts: [(o.msisdn.encode(), _json(o)) for o in out.opt_outs],
            s.topic_contacts: [(c.msisdn.encode(), _json(c)) for c in out.contacts],
            s.topic_calls: [(c.msisdn.encode(), _json(c)) for c in out.calls],
            s.topic_dialogues: [(d.msisdn.encode(), _json(d)) for d in out.dialogues],
        }
        futures = []
        for topic, records in outputs.items():
            if records:
                futures += await send_records(producer, topic, records)
        futures += await send_records(
            producer, s.topic_nudges_state, changelog(part), partition=partition
        )
        return futures

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Restore the state of newly assigned partitions and seek to their checkpoints."""
        partitions = self._events(assigned)
        if not partitions:
            return
        s = self.settings
        started = time.monotonic()
        restored = await restore(s.kafka_bootstrap, s.topic_nudges_state, partitions,
                                 self.producer)  # fmt: skip
        for p, part in restored.items():
            self.parts[p] = part
            if part.next_offset:
                self.consumer.seek(TopicPartition(s.topic_events, p), part.next_offset)
        log.info(
            "restored partitions %s in %.1fs: %s", partitions, time.monotonic() - started,
            {p: (len(part.subscribers), part.next_offset) for p, part in restored.items()},
        )  # fmt: skip

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Forget revoked partitions (every batch in flight is committed by now)."""
        for p in self._events(revoked):
            self.parts.pop(p, None)

    def _events(self, tps: set[TopicPartition]) -> list[int]:
        """The ``channel.events`` partitions among ``tps``: state is kept per events partition,
        and range assignment gives the same numbers of ``campaigns.requests`` alongside."""
        return sorted(tp.partition for tp in tps if tp.topic == self.settings.topic_events)


_campaign_request = msgspec.json.Decoder(CampaignRequest).decode
_json = msgspec.json.Encoder().encode


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
