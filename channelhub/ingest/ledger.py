"""Writing to the workflow ledgers, ``channel.catalogue`` and ``channel.content``: each has one
key, so one partition and one order, which every reader folds the same way. Both stores write
alike: a record built from what a person typed, checked as a reader would decode it, then
produced under the topic's key with every acknowledgement awaited."""

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import msgspec

from channelhub.ingest.producer import Producer
from kernel.errors import ConfigError

R = TypeVar("R", bound=msgspec.Struct)
T = TypeVar("T")


def checked(kind: type[R], **fields: object) -> R:
    """A ``kind`` record of ``fields``, validated as a consumer would decode it, so a bad name
    or code from the command line is a one-line error rather than a record refused later."""
    try:
        return msgspec.convert(fields, kind)
    except msgspec.ValidationError as e:
        problem, _, where = str(e).partition(" - at `$.")
        raise ConfigError(f"{where.rstrip('`') or kind.__name__}: {problem}") from e


def append(
    bootstrap: str, topic: str, key: bytes, payloads: Sequence[bytes], *, client_id: str
) -> None:
    """Send ``payloads`` to ``topic`` under ``key``, in order, and wait for the
    acknowledgements."""
    if not payloads:
        return
    with Producer(bootstrap, topic, client_id=client_id) as producer:
        for payload in payloads:
            producer.send(key, payload)


def decoded(values: Iterable[bytes | None], decode: Callable[[bytes], T]) -> tuple[list[T], int]:
    """The records of ``values`` that decode, in order, and how many did not (the sink
    dead-letters each of those with its reason)."""
    found: list[T] = []
    unreadable = 0
    for value in values:
        try:
            found.append(decode(value or b""))
        except (msgspec.DecodeError, msgspec.ValidationError):
            unreadable += 1
    return found, unreadable
