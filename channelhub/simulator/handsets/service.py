"""The simulated handsets as a process (``python -m channelhub.simulator.handsets``).

Reads the dispatcher's records (group ``<group_prefix>-handsets``), turns each into the
events of the subscriber's answer (:func:`channelhub.simulator.handsets.answers.responses`) and
produces them to the raw topic, keyed by MSISDN, when their time comes: an answer in the past
(a backfill) goes at once, an answer in the future (live traffic) waits in memory until the
wall clock reaches its ``occurred_at``, so the pipeline sees it arrive in real time.

Offsets are committed only up to the first dispatch with an answer not yet acknowledged by
the broker, so a crash or a rebalance loses nothing: the answers still waiting are made again
from the re-read dispatches. Answers already produced are then produced again with the same
event ids, which the validator, the nudge stage and the sink all recognise as duplicates.
"""

import heapq
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Annotated, NamedTuple

import msgspec
import typer
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndMetadata

from channelhub.catalogue.store import live_ways
from channelhub.ingest.producer import Producer
from channelhub.simulator.engine import Engine, Scenario
from channelhub.simulator.handsets.answers import occurred_ms, responses
from channelhub.simulator.population import Population
from kernel import kafka, startup
from kernel.settings import Settings
from schemas.nudges import Dispatch

log = logging.getLogger(__name__)

POLL_MS = 200
MAX_RECORDS = 500
REPORT_SECONDS = 30.0


class Held(NamedTuple):
    """One answer event waiting for its time, and the dispatch record it answers."""

    due_ms: int
    seq: int
    key: bytes
    payload: bytes
    tp: TopicPartition
    offset: int


class Handsets:
    """The consume → hold → produce → commit loop; :meth:`run` until SIGTERM/SIGINT."""

    def __init__(
        self,
        settings: Settings,
        population: Population,
        *,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.settings = settings
        self.population = population
        self.clock_ms = clock_ms
        self.held: list[Held] = []
        self.unacknowledged: dict[TopicPartition, Counter[int]] = {}
        self.next_offset: dict[TopicPartition, int] = {}
        self.committed: dict[TopicPartition, int] = {}
        self.counts: Counter[str] = Counter()
        self._seq = 0
        self._stopping = False
        self._decode = msgspec.json.Decoder(Dispatch).decode

    def run(self) -> None:
        settings = self.settings
        consumer = kafka.group_consumer(settings, "handsets")
        producer = Producer(
            settings.kafka_bootstrap, settings.topic_raw, client_id="channelhub-handsets"
        )
        consumer.subscribe(
            [settings.topic_nudges_dispatches], listener=_Rebalance(self, consumer, producer)
        )
        # The ways a subscriber may use are those the catalogue holds open, as the nudge
        # stage suggests them: a retired one is not used, an opened web or WAP function is.
        ways = live_ways(settings, "channelhub-handsets-catalogue")
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        log.info(
            "answering %s on %s with probability %s (seed %s)",
            settings.topic_nudges_dispatches, settings.topic_raw,
            settings.handset_response_probability, settings.handset_seed,
        )  # fmt: skip
        last_report = time.monotonic()
        try:
            while not self._stopping:
                ways.poll()
                fetched = consumer.poll(timeout_ms=self._wait_ms(), max_records=MAX_RECORDS)
                for tp, records in fetched.items():
                    for record in records:
                        self.hold(tp, record)
                    self.next_offset[tp] = records[-1].offset + 1
                self.release(producer)
                self.commit(consumer)
                if time.monotonic() - last_report >= REPORT_SECONDS:
                    log.info("progress: %s, %d event(s) held", dict(self.counts), len(self.held))
                    last_report = time.monotonic()
        finally:
            ways.follower.close()
            consumer.close(autocommit=False)
            producer.close()
            log.info(
                "stopped: %s; %d held event(s) left to the re-read",
                dict(self.counts),
                len(self.held),
            )

    def _stop(self, signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        self._stopping = True

    def _wait_ms(self) -> int:
        """Poll no longer than until the next held event is due."""
        if not self.held:
            return POLL_MS
        return max(0, min(POLL_MS, self.held[0].due_ms - self.clock_ms()))

    def hold(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        """Turn one dispatch record into held answer events (a bad record is logged, skipped)."""
        try:
            dispatch = self._decode(record.value)
        except msgspec.DecodeError as e:
            self.counts["undecodable"] += 1
            log.warning(
                "skipping %s[%d]@%d: not a Dispatch record (%s)",
                tp.topic, tp.partition, record.offset, e,
            )  # fmt: skip
            return
        self.counts["dispatches"] += 1
        events = responses(
            dispatch,
            seed=self.settings.handset_seed,
            probability=self.settings.handset_response_probability,
            population=self.population,
        )
        if not events:
            return
        self.counts["answered"] += 1
        key = dispatch.msisdn.encode()
        for payload in events:
            self._seq += 1
            heapq.heappush(
                self.held, Held(occurred_ms(payload), self._seq, key, payload, tp, record.offset)
            )
        self.unacknowledged.setdefault(tp, Counter())[record.offset] += len(events)

    def release(self, producer: Producer) -> None:
        """Produce every held event that is due and wait for the broker's acknowledgement."""
        now, released = self.clock_ms(), []
        while self.held and self.held[0].due_ms <= now:
            event = heapq.heappop(self.held)
            producer.send(event.key, event.payload)
            released.append(event)
        if not released:
            return
        producer.flush()  # raises DeliveryError: nothing below is committed then
        for event in released:
            waiting = self.unacknowledged[event.tp]
            waiting[event.offset] -= 1
            if not waiting[event.offset]:
                del waiting[event.offset]
        self.counts["events"] += len(released)

    def commit(self, consumer: KafkaConsumer) -> None:
        """Commit each partition up to its first dispatch with an answer still outstanding."""
        offsets = {}
        for tp, next_offset in self.next_offset.items():
            waiting = self.unacknowledged.get(tp)
            offset = min(waiting) if waiting else next_offset
            if self.committed.get(tp) != offset:
                offsets[tp] = offset
        if offsets:
            consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
            self.committed.update(offsets)

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Drop what belongs to partitions this process no longer owns: their new owner
        re-reads them from the committed offset, which is before every held answer."""
        self.held = [e for e in self.held if e.tp not in partitions]
        heapq.heapify(self.held)
        for tp in partitions:
            self.unacknowledged.pop(tp, None)
            self.next_offset.pop(tp, None)
            self.committed.pop(tp, None)


class _Rebalance(ConsumerRebalanceListener):
    """Before partitions go: produce what is due and commit, then forget them."""

    def __init__(self, handsets: Handsets, consumer: KafkaConsumer, producer: Producer) -> None:
        self.handsets = handsets
        self.consumer = consumer
        self.producer = producer

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:
            self.handsets.release(self.producer)
            self.handsets.commit(self.consumer)
            self.handsets.forget(revoked)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("answering dispatches of partitions %s", sorted(tp.partition for tp in assigned))


def main(
    population_seed: Annotated[
        int, typer.Option(help="The simulator's --seed: whose numbers, prefectures and brands.")
    ] = 0,
    subscribers: Annotated[
        int, typer.Option(min=1, help="The simulator's --subscribers: the population's size.")
    ] = 100_000,
) -> None:
    """Answer sent nudges as the simulated subscribers would, with
    CHANNELHUB_HANDSET_RESPONSE_PROBABILITY and CHANNELHUB_HANDSET_SEED."""
    settings = startup.start("handsets")
    # The simulator derives its population from the seed: the same one, without the traffic.
    population = Engine(Scenario(seed=population_seed, start_ms=0, subscribers=subscribers))
    Handsets(settings, population.population).run()
