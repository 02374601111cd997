"""``channelhub dlq redrive``: send the dead letters that a fix now accepts through the pipeline.

The ``dead_letters`` table masks the numbers in its payloads, so the originals come from the
dead-letter topic, read from its start to its end with no consumer group (nothing to commit,
nothing left behind). Each letter of the selection is validated again exactly as at its first
arrival (``received_at`` is the letter's, so ``in_future`` is judged as it was then), with
today's validator: its upcasters, its bounds, the configured clock skew.

A letter that now passes is produced to the raw topic in its canonical form (version 1,
``occurred_at`` in UTC), keyed by :func:`schemas.routing_key` as the validator keys it; the
validate stage and the sink take it from there, so it is stored, counted and seen by the nudge
stage like any other event. Canonical, not the original bytes, because the validate stage may
not run the fix yet (a redrive with an upcaster still being rolled out lands what it checked).

Exactly once: an event whose ``event_id`` ClickHouse already holds (an earlier redrive, or the
channel system sent it again once fixed) is not produced, and one produced moments ago but not
yet written is dropped by the sink's memory of the ids it wrote. Two letters of one event are
produced once.
"""

import contextlib
import math
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from clickhouse_driver import Client
from kafka.errors import KafkaError

from channelhub.ingest.producer import Producer
from channelhub.recovery import topics
from kernel.errors import ServiceError
from kernel.settings import Settings
from schemas import Rejection, routing_key, validate
from schemas.dead_letter import DeadLetter
from sinks.client import connect, database_name, storage_errors

#: Events checked against ClickHouse and produced together.
CHUNK = 5_000
#: Reasons whose payload on the topic is not the bytes that were sent (cut at 64 KiB, or
#: invalid UTF-8 replaced when the letter was written): validating it would judge another event.
NOT_REPLAYABLE = frozenset({"too_large", "not_utf8"})
PROGRESS_EVERY = 50_000

_letter = msgspec.json.Decoder(DeadLetter)


@dataclass(frozen=True)
class Selection:
    """Which letters to redrive: any of ``reasons`` (all when empty), received in
    ``[since, until)``."""

    reasons: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None

    def __contains__(self, letter: DeadLetter) -> bool:
        return (
            (not self.reasons or letter.reason_code in self.reasons)
            and (self.since is None or letter.received_at >= self.since)
            and (self.until is None or letter.received_at < self.until)
        )


@dataclass
class Summary:
    """What a redrive did; :meth:`as_dict` is the JSON the command prints last."""

    examined: int = 0  # records read from the dead-letter topic
    unreadable: int = 0  # records there that are not dead letters
    matched: int = 0  # distinct letters (by dead_letter_id) in the selection
    not_replayable: int = 0  # their payload is not the original bytes
    now_valid: int = 0
    already_landed: int = 0  # valid, but the event is already in ClickHouse or this run
    produced: int = 0
    still_invalid: Counter[str] = field(default_factory=Counter)  # by today's reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "examined": self.examined,
            "unreadable": self.unreadable,
            "matched": self.matched,
            "not_replayable": self.not_replayable,
            "now_valid": self.now_valid,
            "already_landed": self.already_landed,
            "produced": self.produced,
            "still_invalid": dict(sorted(self.still_invalid.items())),
        }


@dataclass(frozen=True)
class _Valid:
    event_id: str
    occurred_at: datetime
    key: bytes
    value: bytes


def redrive(
    settings: Settings,
    selection: Selection,
    *,
    dry_run: bool = False,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> Summary:
    """Re-validate the selected letters and produce those that now pass (see the module)."""
    summary = Summary()
    skew = timedelta(seconds=settings.clock_skew_seconds)
    db = database_name(settings)
    seen_letters: set[str] = set()
    seen_events: set[str] = set()
    chunk: list[_Valid] = []
    with contextlib.ExitStack() as resources:
        reader = topics.consumer(settings.kafka_bootstrap, "channelhub-redrive")
        resources.callback(reader.close)
        client = connect(settings)
        resources.callback(client.disconnect)
        producer = None
        if not dry_run:
            producer = Producer(
                settings.kafka_bootstrap, settings.topic_raw, client_id="channelhub-redrive"
            )
            resources.callback(producer.close)
        try:
            ends = topics.end_offsets(reader, topics.partitions(reader, [settings.topic_dlq]))
            progress(f"reading {sum(ends.values())} record(s) of {settings.topic_dlq}")
            for record in topics.read_to_end(reader, ends):
                summary.examined += 1
                if summary.examined % PROGRESS_EVERY == 0:
                    progress(f"examined {summary.examined}: {summary.as_dict()}")
                try:
                    letter = _letter.decode(record.value)
                except (msgspec.DecodeError, TypeError):
                    summary.unreadable += 1
                    continue
                if letter.dead_letter_id in seen_letters or letter not in selection:
                    continue
                seen_letters.add(letter.dead_letter_id)
                summary.matched += 1
                valid = _revalidate(letter, skew, summary)
                if valid is None:
                    continue
                if valid.event_id in seen_events:
                    summary.already_landed += 1
                    continue
                seen_events.add(valid.event_id)
                chunk.append(valid)
                if len(chunk) >= CHUNK:
                    _land(client, db, chunk, producer, summary)
                    chunk = []
            _land(client, db, chunk, producer, summary)
            if producer is not None:
                producer.flush()
        except KafkaError as e:
            raise ServiceError(f"the broker at {settings.kafka_bootstrap} failed: {e}") from e
    progress(
        f"examined {summary.examined} record(s), {summary.matched} letter(s) selected, "
        f"{summary.now_valid} now valid, {summary.produced} produced to {settings.topic_raw}"
    )
    return summary


def _revalidate(letter: DeadLetter, skew: timedelta, summary: Summary) -> _Valid | None:
    """The letter's event as the validator would produce it now, or None (counted)."""
    raw = letter.payload.encode()
    if letter.reason_code in NOT_REPLAYABLE or len(raw) != letter.payload_bytes:
        summary.not_replayable += 1
        return None
    result = validate(raw, received_at=letter.received_at, skew=skew)
    if isinstance(result, Rejection):
        summary.still_invalid[result.reason_code] += 1
        return None
    summary.now_valid += 1
    event = msgspec.structs.replace(result, occurred_at=result.occurred_at.astimezone(UTC))
    return _Valid(event.event_id, event.occurred_at, routing_key(event), msgspec.json.encode(event))


def _land(
    client: Client, db: str, chunk: list[_Valid], producer: Producer | None, summary: Summary
) -> None:
    """Produce the events of ``chunk`` that ClickHouse does not hold yet."""
    if not chunk:
        return
    stored = _stored_ids(client, db, chunk)
    for valid in chunk:
        if valid.event_id in stored:
            summary.already_landed += 1
        elif producer is not None:
            producer.send(valid.key, valid.value)
            summary.produced += 1


def _stored_ids(client: Client, db: str, chunk: list[_Valid]) -> set[str]:
    """Which of these event ids ``events`` holds. The time bounds (whole seconds since the
    epoch, free of any server time zone) let ClickHouse skip the months they cannot be in: the
    table is partitioned by ``occurred_at``."""
    query = f"""
        SELECT DISTINCT event_id FROM {db}.events
        WHERE occurred_at >= toDateTime(%(first)s) AND occurred_at <= toDateTime(%(last)s)
          AND event_id IN %(ids)s
    """
    params = {
        "first": math.floor(min(v.occurred_at for v in chunk).timestamp()),
        "last": math.ceil(max(v.occurred_at for v in chunk).timestamp()),
        "ids": tuple(v.event_id for v in chunk),
    }
    with storage_errors(f"cannot read event ids from {db}.events"):
        rows = client.execute(query, params)
    return {event_id for (event_id,) in rows}
