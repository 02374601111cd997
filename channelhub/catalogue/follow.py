"""The live catalogue, followed: ``channel.catalogue`` read from its first record and kept
folded as records arrive.

Every reader of the catalogue holds one :class:`Follower`: the nudge stage (the self-service
ways its rules suggest), the dashboard (the ``/catalogue`` page), the simulator and the
``channelhub service`` commands (which read to the end before they write). :meth:`refresh`
reads whatever was added since the last call, exactly to the topic's end, and folds it on the
same :class:`~orchestration.catalogue.Catalogue`, so a long-running process pays for each
record once and every reader accepts and refuses the same records in the same order.

"Exactly to the end" on Tansu as on Apache Kafka: Tansu reports a partition's high watermark
as the first offset of its newest record batch + 1, and a fetch returns record batches whole,
so once the position has reached the reported watermark the rest of that batch is already
fetched: one more poll that does not wait takes it, and one that returns nothing means the
last batch has been read to its last record.

A record that does not decode is counted in :attr:`unreadable` and skipped (the sink
dead-letters it with the reason); nothing here raises on what the topic holds.
"""

import logging
import time

import msgspec
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from kernel import kafka
from kernel.errors import ServiceError
from orchestration.catalogue import Catalogue
from orchestration.rules import guidance
from schemas import catalogue as records

log = logging.getLogger(__name__)

#: How long one refresh may wait for the broker to send what it said it has.
STALL_SECONDS = 30.0
#: How long one request for offsets may take: a broker that went away is an error, not a
#: stage stalled behind its catalogue.
OFFSETS_TIMEOUT_MS = 10_000


class Follower:
    """One process's view of ``topic``; not thread-safe: one caller at a time."""

    def __init__(self, bootstrap: str, topic: str, *, client_id: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.client_id = client_id
        self.catalogue = Catalogue()
        #: Records that did not decode, skipped.
        self.unreadable = 0
        self._reader: KafkaConsumer | None = None
        self._assigned: list[TopicPartition] = []

    def refresh(self) -> Catalogue:
        """The catalogue with every record the topic holds now folded in; a topic the broker
        does not have (yet) is an empty catalogue. :class:`ServiceError` when the broker cannot
        be reached or stops answering."""
        try:
            reader = self._connected()
            if not self._assigned:
                self._assign(reader)
            if self._assigned:
                self._read_to_end(reader)
        except KafkaError as e:
            self.close()
            raise ServiceError(f"cannot read {self.topic} at {self.bootstrap}: {e}") from e
        return self.catalogue

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._reader = None
        self._assigned = []

    def _connected(self) -> KafkaConsumer:
        if self._reader is None:
            # A reader must not create the topic by asking for it: ``channelhub up`` creates
            # it with its lifecycle, and until then the catalogue is simply empty.
            self._reader = kafka.reader(
                self.bootstrap, self.client_id, allow_auto_create_topics=False
            )
        return self._reader

    def _assign(self, reader: KafkaConsumer) -> None:
        numbers = reader.partitions_for_topic(self.topic)
        if not numbers:
            return
        self._assigned = [TopicPartition(self.topic, p) for p in sorted(numbers)]
        reader.assign(self._assigned)
        reader.seek_to_beginning(*self._assigned)

    def _read_to_end(self, reader: KafkaConsumer) -> None:
        """Fold every record up to each partition's end now. The records share one key, so
        they sit on one partition, in the order every reader folds them. Nothing new (the
        usual case for a process that polls) costs one offsets request, no waiting fetch."""
        ends = _end_offsets(reader, self._assigned)
        if any((reader.position(tp, timeout_ms=OFFSETS_TIMEOUT_MS) or 0) > ends[tp]
               for tp in self._assigned):  # fmt: skip
            # The topic is shorter than what was read: a broker that lost it (Tansu keeps
            # topics in memory) and made it anew. Its catalogue is what it holds now.
            log.warning("%s starts again below what was read; folding it anew", self.topic)
            self.catalogue = Catalogue()
            reader.seek_to_beginning(*self._assigned)
        started = time.monotonic()
        while True:
            reached = all(
                (reader.position(tp, timeout_ms=OFFSETS_TIMEOUT_MS) or 0) >= ends[tp]
                for tp in self._assigned
            )
            # At the reported end, what one more fetch holds is the rest of the last batch.
            fetched = reader.poll(timeout_ms=0 if reached else 200, max_records=10_000)
            for tp in sorted(fetched, key=lambda tp: tp.partition):
                for record in fetched[tp]:
                    self._apply(record.value)
            if fetched:
                started = time.monotonic()
            elif reached:
                return
            elif time.monotonic() - started > STALL_SECONDS:
                raise ServiceError(
                    f"the broker sent nothing of {self.topic} for {STALL_SECONDS:.0f} s"
                )

    def _apply(self, value: bytes | None) -> None:
        try:
            event = records.decode(value or b"")
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.unreadable += 1
            return
        self.catalogue.apply(event)


class LiveWays:
    """Keeps this process's self-service ways (:mod:`orchestration.rules.guidance`) on the live
    catalogue: every ``every_seconds``, :meth:`poll` reads what was added and swaps the ways
    when they changed. A broker that does not answer is logged and the ways in force are
    kept: a process that suggests yesterday's ways for a minute is better than one that
    stops."""

    def __init__(self, follower: Follower, every_seconds: float) -> None:
        self.follower = follower
        self.every_seconds = every_seconds
        self._next = 0.0

    def poll(self, *, force: bool = False) -> bool:
        """Whether the ways changed; reads the topic only when it is time to, or ``force``."""
        if time.monotonic() < self._next and not force:
            return False
        self._next = time.monotonic() + self.every_seconds
        try:
            catalogue = self.follower.refresh()
        except ServiceError as e:
            log.warning("service catalogue not refreshed, the ways in force stay: %s", e)
            return False
        changed = guidance.follow(catalogue)
        if changed:
            log.info("self-service ways now from catalogue version %d", catalogue.version)
        return changed


def _end_offsets(reader: KafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The reported high watermarks. kafka-python raises ``KeyError`` when an answer leaves a
    partition out, which Tansu does now and then under load; asked again, it answers."""
    for attempt in range(1, 6):
        try:
            return dict(reader.end_offsets(tps, timeout_ms=OFFSETS_TIMEOUT_MS))
        except KeyError:
            time.sleep(0.2 * attempt)
    raise ServiceError("the broker did not list the catalogue's offsets five times in a row")
