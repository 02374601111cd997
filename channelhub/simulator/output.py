"""Where simulated events go: the raw Kafka topic, or newline-delimited JSON.

Both take :class:`~channelhub.simulator.engine.Emitted` items and, when finished, report which
events were not delivered so the summary counts only what really arrived.
"""

import sys
from pathlib import Path
from typing import BinaryIO, Protocol

from channelhub.ingest.producer import DeliveryError, Producer
from channelhub.simulator.engine import Emitted
from kernel.settings import Settings


class Output(Protocol):
    def write(self, item: Emitted) -> None: ...

    def finish(self) -> DeliveryError | None:
        """Deliver what is pending and release resources; the error if events were lost."""

    @property
    def undelivered(self) -> list[str]:
        """Labels of the events that were written but not delivered."""


class KafkaOutput:
    """Produces to ``settings.topic_raw`` (created if missing), keyed per event."""

    def __init__(self, settings: Settings) -> None:
        from channelhub.platform.broker import ensure_topics
        from channelhub.platform.topics import topic_configs

        ensure_topics(
            settings.kafka_bootstrap,
            [settings.topic_raw],
            settings.topic_partitions,
            topic_configs(settings),
        )
        self._producer = Producer(
            settings.kafka_bootstrap, settings.topic_raw, client_id="channelhub-simulator"
        )

    def write(self, item: Emitted) -> None:
        self._producer.send(item.key, item.payload, item.label)

    def finish(self) -> DeliveryError | None:
        try:
            self._producer.flush()
        except DeliveryError as e:
            return e
        finally:
            self._producer.close()
        return None

    @property
    def undelivered(self) -> list[str]:
        return [str(tag) for tag in self._producer.failed_tags]


class NdjsonOutput:
    """One event per line to ``path``, or to standard output when ``path`` is None."""

    def __init__(self, path: Path | None) -> None:
        self._stream: BinaryIO = path.open("wb") if path else sys.stdout.buffer
        self._owned = path is not None

    def write(self, item: Emitted) -> None:
        self._stream.write(item.payload + b"\n")

    def finish(self) -> DeliveryError | None:
        if self._owned:
            self._stream.close()
        else:
            self._stream.flush()
        return None

    @property
    def undelivered(self) -> list[str]:
        return []
