"""The send journal: what the dispatcher handed to the gateway, durable before it did.

Why: offsets are committed after the gateway's answers, so a dispatcher killed in between
fetches those nudges again, and SMPP has no idempotence key (a webhook aggregator's memory of
``Idempotency-Key`` is not ours to rely on either). The journal makes every gateway at most
once per SMS part, whatever crashes:

1. before each submission (an SMPP part, a webhook call, an outbox append) an ``intent``
   entry, "about to submit part k of nudge X", is written and fsynced;
2. after the gateway's answer, ``accepted`` (with its message ids), or ``not_taken`` when the
   gateway certainly did not take it (it answered no, or was never reached), so that it may
   be submitted again;
3. when the nudge is settled, its ``outcome``: the content of its ``Dispatch``.

A nudge fetched again (after a restart, a give-back or a rebalance, or a repeated record)
that has an outcome is answered from it and never reaches the gateway. A part with an intent
and no answer is *in doubt*: the gateway may have taken it, so it is never submitted again,
and the nudge settles as ``failed`` with reason ``unknown_after_crash`` (or
``unknown_after_lost_answer`` when the answer was lost in this run), keeping the message ids
of the parts taken before it.

Where: one append-only JSON-lines file per partition of ``nudges.outbound``,
``<state_dir>/dispatch/journal/<topic>-<partition>.jsonl``, held under an exclusive
``flock`` (on its ``.lock`` file) by the one process that dispatches the partition. Per
partition, so that when a rebalance moves it to another dispatcher on the same machine (the
same state dir) the new owner reads the same file, once the old one has let go of it. A
dispatcher on another machine has no such file: a nudge the old owner submitted but did not
commit is submitted there again (at least once). The commits after every chunk keep that
window to the nudges in flight; keep one machine's dispatchers on one state dir.

Cost: intents are group-committed. A submission waits for the fsync that starts after its
intent was written, so the submissions started together (a chunk of up to
``dispatch_concurrency`` nudges) share one. Answers and outcomes are written without waiting
and made durable by :meth:`SendJournal.sync` before the dispatches are produced and the
offsets committed; one lost in a crash leaves its intent unanswered: in doubt, never resent.

Bounded: a nudge is forgotten ``dispatch_journal_retention_hours`` after its last entry,
counted in the journal's own time (up to its newest entry), not the wall clock: a dispatcher
stopped for longer than that still finds, on its restart, every nudge whose record it will
fetch again. When the file has twice the lines it had after the last compaction (and at least
:data:`COMPACT_MIN_LINES`), it is rewritten with one line per remembered nudge and renamed
over the old one. In memory a nudge costs about 450 bytes.

A crash in the middle of a write leaves a torn last line: it is cut off on opening, since no
submission waited for an entry that was not whole on disk.
"""

import asyncio
import enum
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

import msgspec

from kernel.errors import ChannelhubError
from orchestration.dispatch.gateway import (
    UNKNOWN_AFTER_CRASH,
    UNKNOWN_AFTER_LOST_ANSWER,
    PartAccepted,
    PartInDoubt,
    Prior,
)

log = logging.getLogger(__name__)

COMPACT_MIN_LINES: Final = 10_000
"""A journal shorter than this is never compacted: rewriting it would cost more than it saves."""
LOCK_POLL_S: Final = 0.1
LOCK_WARN_S: Final = 10.0
SETTLED: Final = "settled"
"""Reason a part of a settled nudge is in doubt: a settled nudge never reaches a gateway again."""


class Intent(msgspec.Struct, frozen=True, kw_only=True, tag="intent", tag_field="entry"):
    """About to submit ``part`` of a nudge; written and fsynced before the submission."""

    nudge_id: str
    part: int
    t: float


class Accepted(msgspec.Struct, frozen=True, kw_only=True, tag="accepted", tag_field="entry"):
    """The gateway took ``part``, under these ids."""

    nudge_id: str
    part: int
    message_ids: tuple[str, ...]
    t: float


class NotTaken(msgspec.Struct, frozen=True, kw_only=True, tag="not_taken", tag_field="entry"):
    """The gateway certainly did not take ``part``: it may be submitted again."""

    nudge_id: str
    part: int
    t: float


class Outcome(msgspec.Struct, frozen=True, kw_only=True, tag="outcome", tag_field="entry"):
    """A settled nudge, as its ``Dispatch`` says, so that it can be produced again as it was."""

    nudge_id: str
    status: Literal["sent", "failed"]
    gateway: str
    message_ids: tuple[str, ...] = ()
    segments: int = 0
    error: str | None = None
    at: datetime
    """When it was settled: the dispatch's ``dispatched_at``."""


Entry = Intent | Accepted | NotTaken | Outcome
"""One line of a journal; ``t`` is when an entry was written, in Unix seconds."""
_ENCODE: Final = msgspec.json.Encoder().encode
_DECODER: Final = msgspec.json.Decoder(Entry)


class JournalError(ChannelhubError):
    """A journal file cannot be read: refusing to dispatch beats sending twice."""


class _Pending(enum.Enum):
    """A part with an intent and no answer."""

    NOW = "now"
    """Intended in this run; still waiting, or its answer was lost."""
    EARLIER = "earlier"
    """Intended before the journal was opened: its submission may or may not have happened."""


@dataclass(slots=True)
class _Open:
    """A nudge not settled yet: each part's intent or accepted ids."""

    last: float
    parts: dict[int, _Pending | tuple[str, ...]]


def _last(state: "_Open | Outcome") -> float:
    return state.at.timestamp() if isinstance(state, Outcome) else state.last


def _time(entry: Entry) -> float:
    return entry.at.timestamp() if isinstance(entry, Outcome) else entry.t


class SendLedger:
    """The journal's rules, in memory.

    What :class:`SendJournal` also keeps on disk, and what a gateway used on its own keeps for
    its retries (then bounded to the ``capacity`` nudges seen first among those remembered).
    """

    def __init__(self, *, capacity: int | None = None, clock: Callable[[], float] = time.time):
        self.capacity = capacity
        self.clock = clock
        self.newest = 0.0
        """The time of the newest entry: the journal's own clock, which retention counts in."""
        self._nudges: dict[str, _Open | Outcome] = {}

    def __len__(self) -> int:
        return len(self._nudges)

    def prior(self, nudge_id: str, part: int) -> Prior:
        state = self._nudges.get(nudge_id)
        if state is None:
            return None
        if isinstance(state, Outcome):
            return PartInDoubt(SETTLED)
        got = state.parts.get(part)
        if got is None:
            return None
        if got is _Pending.NOW:
            return PartInDoubt(UNKNOWN_AFTER_LOST_ANSWER)
        if got is _Pending.EARLIER:
            return PartInDoubt(UNKNOWN_AFTER_CRASH)
        return PartAccepted(got)

    async def intend(self, nudge_id: str, part: int) -> None:
        self._apply(Intent(nudge_id=nudge_id, part=part, t=self.clock()))
        await self._durable()

    def accepted(self, nudge_id: str, part: int, message_ids: tuple[str, ...]) -> None:
        self._apply(Accepted(nudge_id=nudge_id, part=part, message_ids=message_ids, t=self.clock()))

    def not_taken(self, nudge_id: str, part: int) -> None:
        self._apply(NotTaken(nudge_id=nudge_id, part=part, t=self.clock()))

    def outcome(self, nudge_id: str) -> Outcome | None:
        state = self._nudges.get(nudge_id)
        return state if isinstance(state, Outcome) else None

    def accepted_ids(self, nudge_id: str) -> tuple[str, ...]:
        """The ids of the parts taken so far, in part order: what a nudge left in doubt keeps."""
        state = self._nudges.get(nudge_id)
        if state is None:
            return ()
        if isinstance(state, Outcome):
            return state.message_ids
        return tuple(
            message_id
            for _, got in sorted(state.parts.items())
            if isinstance(got, tuple)
            for message_id in got
        )

    def finish(self, outcome: Outcome) -> Outcome:
        """Settle a nudge; its first outcome stays (two records of it settled at once are one)."""
        known = self.outcome(outcome.nudge_id)
        if known is not None:
            return known
        self._apply(outcome)
        return outcome

    async def sync(self) -> None:
        """Make every entry so far durable; nothing to do in memory."""

    def _apply(self, entry: Entry) -> None:
        self._remember(entry, loaded=False)
        self._write(entry)

    def _remember(self, entry: Entry, *, loaded: bool) -> None:
        self.newest = max(self.newest, _time(entry))
        if isinstance(entry, Outcome):
            self._nudges.pop(entry.nudge_id, None)
            self._nudges[entry.nudge_id] = entry
        else:
            state = self._nudges.get(entry.nudge_id)
            if isinstance(state, Outcome):
                return  # settled: nothing about its parts matters any more
            if state is None:
                state = self._nudges[entry.nudge_id] = _Open(entry.t, {})
            state.last = max(state.last, entry.t)
            if isinstance(entry, Intent):
                state.parts[entry.part] = _Pending.EARLIER if loaded else _Pending.NOW
            elif isinstance(entry, Accepted):
                state.parts[entry.part] = entry.message_ids
            else:
                state.parts.pop(entry.part, None)
        if self.capacity is not None and len(self._nudges) > self.capacity:
            del self._nudges[next(iter(self._nudges))]

    def _write(self, entry: Entry) -> None:
        """Kept in memory only."""

    async def _durable(self) -> None:
        """Kept in memory only: nothing to wait for."""

    def _entries(self) -> Iterator[Entry]:
        """The fewest entries that say what this ledger remembers: one line per settled nudge."""
        for nudge_id, state in self._nudges.items():
            if isinstance(state, Outcome):
                yield state
                continue
            for part, got in sorted(state.parts.items()):
                if isinstance(got, tuple):
                    yield Accepted(nudge_id=nudge_id, part=part, message_ids=got, t=state.last)
                else:
                    yield Intent(nudge_id=nudge_id, part=part, t=state.last)


class SendJournal(SendLedger):
    """A :class:`SendLedger` backed by one append-only file, fsynced; see the module doc."""

    def __init__(
        self, path: Path, *, retention_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(clock=clock)
        self.path = path
        self.retention_seconds = retention_seconds
        self._lock_path = path.with_name(path.name + ".lock")
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._buffer: list[bytes] = []
        self._appended = 0
        self._synced = 0
        self._sync_lock = asyncio.Lock()
        self.lines = 0
        """Lines in the file (durable ones)."""
        self._compacted_lines = 0

    @classmethod
    async def open(
        cls, path: Path, *, retention_seconds: float, clock: Callable[[], float] = time.time
    ) -> "SendJournal":
        """Lock ``path`` (waiting while another process holds it), read it, and compact it
        when it says things more than once."""
        journal = cls(path, retention_seconds=retention_seconds, clock=clock)
        await journal._lock()
        try:
            await asyncio.to_thread(journal._load)
            if journal.lines > len(journal):
                await journal.compact()
        except BaseException:
            journal._release()
            raise
        return journal

    async def sync(self) -> None:
        async with self._sync_lock:
            if self._synced < self._appended:
                await self._flush()

    async def compact_if_due(self) -> None:
        """Compact when the file has doubled since the last compaction."""
        if self.lines >= max(COMPACT_MIN_LINES, 2 * self._compacted_lines):
            await self.compact()

    async def compact(self) -> None:
        """Forget nudges whose last entry is older than the retention before the newest
        entry, and rewrite the file from what is left.

        Call it between chunks: a submission in flight is kept as its intent (in doubt after
        a crash), which is what it would be without the compaction.
        """
        async with self._sync_lock:
            horizon = self.newest - self.retention_seconds
            expired = [n for n, state in self._nudges.items() if _last(state) < horizon]
            for nudge_id in expired:
                if isinstance(self._nudges.pop(nudge_id), _Open):
                    log.warning("%s: forgetting nudge %s, unsettled for longer than the "
                                "retention: its record was not fetched here again (committed "
                                "by a dispatcher on another machine?)",
                                self.path, nudge_id)  # fmt: skip
            entries = list(self._entries())
            self._buffer.clear()
            self._synced = self._appended
            await asyncio.to_thread(self._rewrite, b"".join(_ENCODE(e) + b"\n" for e in entries))
            self.lines = self._compacted_lines = len(entries)

    async def close(self) -> None:
        """Make everything durable and let another process have the partition."""
        try:
            await self.sync()
        finally:
            self._release()

    # -- durability ---------------------------------------------------------------------------

    def _write(self, entry: Entry) -> None:
        self._buffer.append(_ENCODE(entry) + b"\n")
        self._appended += 1

    async def _durable(self) -> None:
        """Group commit: returns once the entries written so far are on disk."""
        target = self._appended
        await asyncio.sleep(0)  # the submissions started with this one write their intents
        async with self._sync_lock:
            if self._synced < target:
                await self._flush()

    async def _flush(self) -> None:
        """Append and fsync the buffer; the caller holds ``_sync_lock``."""
        data, upto = b"".join(self._buffer), self._appended
        self._buffer.clear()
        await asyncio.to_thread(self._append, data)
        self.lines += upto - self._synced
        self._synced = upto

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fdatasync(self._fd)

    def _rewrite(self, data: bytes) -> None:
        """Write ``data`` beside the journal, fsync it, rename it over the journal."""
        fresh = self.path.with_name(self.path.name + ".compacting")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(fresh, self.path)
        _fsync_dir(self.path.parent)
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    # -- opening and closing ------------------------------------------------------------------

    async def _lock(self) -> None:
        """Wait for the partition's lock: another dispatcher on this machine may still be
        finishing it (it lets go when its partitions are revoked, or when it dies)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        warned = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - warned > LOCK_WARN_S:
                    log.warning("%s is still held by another process; waiting for it to let "
                                "go of the partition", self.path)  # fmt: skip
                    warned = time.monotonic()
                await asyncio.sleep(LOCK_POLL_S)
            except BaseException:
                os.close(fd)
                raise
        self._lock_fd = fd

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the only descriptor releases the flock
            self._lock_fd = None

    def _load(self) -> None:
        """Read every whole entry; cut off a torn last one (a crash in the middle of a write)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        position, number = 0, 0
        while (end := data.find(b"\n", position)) >= 0:
            try:
                entry = _DECODER.decode(data[position:end])
            except msgspec.DecodeError as e:
                if data[end + 1 :].strip():
                    raise JournalError(
                        f"{self.path}, line {number + 1}, is not a journal entry ({e}) and more "
                        "entries follow it: the file is damaged. Move it away to dispatch "
                        "again (nudges it was in the middle of may then be sent twice)"
                    ) from e
                break  # the last line: garbage a crash left at the end
            self._remember(entry, loaded=True)
            position, number = end + 1, number + 1
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if position < len(data):
            log.warning("%s: cut off a torn last entry (%d bytes) left by a crash",
                        self.path, len(data) - position)  # fmt: skip
            os.ftruncate(self._fd, position)
            os.fsync(self._fd)
        self.lines = self._compacted_lines = number


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journals:
    """The send journals of the partitions one dispatcher process owns, opened on first use."""

    def __init__(self, directory: Path, *, retention_seconds: float) -> None:
        self.directory = directory
        self.retention_seconds = retention_seconds
        self._open: dict[tuple[str, int], SendJournal] = {}

    async def get(self, topic: str, partition: int) -> SendJournal:
        journal = self._open.get((topic, partition))
        if journal is None:
            path = self.directory / f"{topic}-{partition}.jsonl"
            journal = await SendJournal.open(path, retention_seconds=self.retention_seconds)
            self._open[(topic, partition)] = journal
        return journal

    async def close(self) -> None:
        """Close every journal: the partitions are leaving this process (or it is stopping)."""
        journals, self._open = list(self._open.values()), {}
        for journal in journals:
            await journal.close()
