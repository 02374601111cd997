"""The published content as the nudge stage sees it: ``channel.content`` followed.

The stage reads the topic from its start when it begins and what is new each time it reloads
its rules (:class:`PublishedContent.poll`, blocking: run it in a thread), folding the records
into :class:`orchestration.content.Content`, whose published versions the rules are bound to
(:mod:`orchestration.content.gate`). Every worker reads the whole topic: it is small (a record
per draft or review) and has one partition.

A broker that does not answer, or a topic not created yet, leaves the content as it was, with
a warning: the rules already bound keep their versions.
"""

import logging
import time

import msgspec
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from kernel import kafka
from kernel.settings import Settings
from orchestration.content import Content
from schemas import content as records

log = logging.getLogger(__name__)

#: Longest a poll reads before handing back what it has (the rest comes at the next).
POLL_SECONDS = 10.0


class PublishedContent:
    """``channel.content`` folded as far as read."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.content = Content()
        self._reader: KafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []

    def poll(self) -> bool:
        """Read the records new since the last poll; return whether the content changed."""
        before = self.content.revision
        try:
            self._read()
        except KafkaError as e:
            log.warning("cannot read %s (%s); the rules keep their published versions",
                        self.settings.topic_content, e)  # fmt: skip
        return self.content.revision != before

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def _read(self) -> None:
        reader = self._assigned()
        if reader is None:
            return
        deadline = time.monotonic() + POLL_SECONDS
        # On Tansu the end offset is the last batch's first offset + 1, so a position at or
        # past it means the whole last batch is read (see channelhub/recovery/topics.py).
        ends = reader.end_offsets(self._partitions)
        while time.monotonic() < deadline and any(
            reader.position(tp) < ends[tp] for tp in self._partitions
        ):
            for batch in reader.poll(timeout_ms=200).values():
                for record in batch:
                    self._apply(record.value or b"", record.offset)

    def _assigned(self) -> KafkaConsumer | None:
        if self._reader is None:
            self._reader = kafka.reader(self.settings.kafka_bootstrap, "channelhub-nudges-content")
        if not self._partitions:
            numbers = self._reader.partitions_for_topic(self.settings.topic_content)
            if not numbers:
                return None  # not created yet: nothing is published
            self._partitions = [TopicPartition(self.settings.topic_content, p) for p in numbers]
            self._reader.assign(self._partitions)
            self._reader.seek_to_beginning(*self._partitions)
        return self._reader

    def _apply(self, value: bytes, offset: int) -> None:
        try:
            event = records.decode(value)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            log.error("not a content record at offset %d of %s: %s", offset,
                      self.settings.topic_content, e)  # fmt: skip
            return
        refusal = self.content.apply(event)
        if refusal is not None and refusal.code != "duplicate":
            log.info("content record %s refused (%s)", event.event_id, refusal.code)
