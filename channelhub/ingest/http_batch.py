"""The collector's pure core: a request body in, Kafka records and a per-item answer out.

No HTTP and no Kafka here, so every rule about what a batch may contain is tested in
microseconds. Two kinds of problem are kept apart on purpose:

* framing problems (the body is not a JSON array, an NDJSON line is not JSON, the batch is
  empty or too long) say the client's serialiser is broken: the whole request is refused
  with :class:`RequestRefusedError` and nothing is produced;
* content problems (an item is not an event, a field is wrong) are one item's fault: that
  item goes to the dead-letter topic with the reason and the rest of the batch is accepted.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec

from kernel.errors import ChannelhubError
from schemas import Rejection, routing_key, validate
from schemas.dead_letter import dead_letter
from schemas.validation import CLOCK_SKEW

#: Media types the collector understands, mapped to the body format.
JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson"})

#: Most items one request may carry; bigger batches are split by the client.
MAX_ITEMS = 10_000

#: ``source_topic`` of dead letters written by the collector.
DLQ_SOURCE = "collector"

_array_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_value_decoder = msgspec.json.Decoder(msgspec.Raw)


class RequestRefusedError(ChannelhubError):
    """The request is refused as a whole; ``status``, ``code`` and the message are the answer.

    ``retry_after`` (seconds) is set when the refusal is temporary and the same request may
    be sent again.
    """

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Record:
    """One message to produce."""

    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Judged:
    """A batch after validation: what to produce, and what to tell the client per item."""

    records: list[Record]
    results: list[dict[str, Any]]
    accepted: int
    rejected: int


def split_items(body: bytes, media_type: str) -> list[bytes]:
    """Cut ``body`` into the bytes of each item, or raise :class:`RequestRefusedError`.

    Items keep their bytes exactly as sent (a JSON array element is sliced out, not
    re-encoded), so what lands on the raw topic is what the channel system wrote.
    """
    if media_type in JSON_TYPES:
        items = _split_json_array(body) if body.strip() else []
    elif media_type in NDJSON_TYPES:
        items = _split_ndjson(body)
    else:
        accepted = ", ".join(sorted(JSON_TYPES | NDJSON_TYPES))
        raise RequestRefusedError(
            415,
            "unsupported_media_type",
            f"Content-Type is {media_type or 'missing'!r}; send one of: {accepted}",
        )
    if not items:
        raise RequestRefusedError(
            400, "empty_batch", "the batch holds no events; send at least one"
        )
    if len(items) > MAX_ITEMS:
        raise RequestRefusedError(
            413,
            "too_many_items",
            f"the batch holds {len(items)} events; the limit is {MAX_ITEMS} per request, "
            "split it into several requests",
        )
    return items


def _split_json_array(body: bytes) -> list[bytes]:
    try:
        return [bytes(raw) for raw in _array_decoder.decode(body)]
    except msgspec.ValidationError as e:
        raise RequestRefusedError(
            400,
            "not_an_array",
            f"the body must be a JSON array of events ({e}); to send one event, wrap it in [ ]",
        ) from e
    except msgspec.DecodeError as e:
        raise RequestRefusedError(400, "not_json", f"the body is not valid JSON: {e}") from e


def _split_ndjson(body: bytes) -> list[bytes]:
    items: list[bytes] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        item = line.strip()
        if not item:
            continue
        try:
            _value_decoder.decode(item)
        except msgspec.DecodeError as e:
            raise RequestRefusedError(
                400, "not_json", f"NDJSON line {number} is not valid JSON: {e}"
            ) from e
        items.append(item)
    return items


def judge(
    items: list[bytes],
    *,
    topic_raw: str,
    topic_dlq: str,
    received_at: datetime,
    skew: timedelta = CLOCK_SKEW,
    client: str = "default",
    channels: frozenset[str] | None = None,
) -> Judged:
    """Validate every item (``occurred_at`` at most ``skew`` after ``received_at``) and
    decide where it goes; an event of a channel outside ``channels`` (the sending client's,
    None for any) is rejected as ``channel_not_allowed``.

    A rejected item's dead-letter id hashes its bytes, so a client that retries a batch
    after a timeout produces the same dead letter again, which the sink collapses.
    """
    records: list[Record] = []
    results: list[dict[str, Any]] = []
    rejected = 0
    for index, item in enumerate(items):
        verdict = validate(item, received_at=received_at, skew=skew)
        if (
            not isinstance(verdict, Rejection)
            and channels is not None
            and verdict.channel not in channels
        ):
            verdict = Rejection(
                "channel_not_allowed",
                "$.channel",
                f"client {client!r} may send {', '.join(sorted(channels))} events only; "
                f"this one is {verdict.channel}",
            )
        if isinstance(verdict, Rejection):
            letter = dead_letter(
                item,
                verdict,
                source_topic=DLQ_SOURCE,
                source_partition=0,
                source_offset=index,
                received_at=received_at,
                dead_letter_id=f"{DLQ_SOURCE}:{hashlib.sha256(item).hexdigest()}",
            )
            rejected += 1
            key = letter.dead_letter_id.encode()
            records.append(Record(topic_dlq, key, msgspec.json.encode(letter)))
            results.append(
                {
                    "index": index,
                    "status": "rejected",
                    "reason_code": verdict.reason_code,
                    "field": verdict.field,
                    "message": verdict.message,
                    "dead_letter_id": letter.dead_letter_id,
                }
            )
        else:
            records.append(Record(topic_raw, routing_key(verdict), item))
            results.append({"index": index, "status": "accepted", "event_id": verdict.event_id})
    return Judged(records, results, len(items) - rejected, rejected)
