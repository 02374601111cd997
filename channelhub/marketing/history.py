"""What a back-test (:mod:`channelhub.marketing.backtest`) reads from ClickHouse, and only
reads: the stored events of a window in the order the nudge stage read them, the holdout
membership the stage recorded for the rules it runs, and the service catalogue's and the
content's records (:func:`ledgers`). :func:`replay` runs a plan over them.

A week of a province is some 175 million events, far more than one query of the dashboard's
read-only user may return (its profile caps result rows and time), and a fold that reads a
query's rows as slowly as it decides them would hold that query open for hours. So the events
are read a page at a time, each page fetched whole before it is folded:

1. :data:`BLOCKS`, a day of the window at a time, counts each partition's events per block of
   ``page_rows // 4`` offsets and notes the earliest and latest event time of each block;
2. :func:`pages` joins a partition's consecutive blocks into pages of at most ``page_rows``
   events (offsets are unique within a partition, so a block never holds more than its span);
3. :data:`PAGE` reads one page: that partition's offsets, within the block times. ``events``
   is sorted by channel, event type and time, so the time bounds make it a read of index
   ranges (and of the months they fall in) rather than of the whole window, and only the
   page's own rows are sorted.

Pages come in partition order and each in offset order: the fold sees exactly the rows, in
exactly the order, of one ``ORDER BY kafka_partition, kafka_offset`` over the window. An event
that arrived much later than it occurred widens its block's times, and so its page's read, by
as much; the answer stays the same.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from clickhouse_driver import Client

from channelhub.ingest import ledger
from channelhub.marketing.backtest import CHUNK, Ledgers, Plan, Replay, StoredEvent, backtest
from orchestration.content import fold as fold_content
from schemas import catalogue as catalogue_records
from schemas import content as content_records
from sinks.client import storage_errors
from sinks.tables import catalogue_events, content_events

#: How much of the window one :data:`BLOCKS` query scans, in seconds: a day of a province is
#: some 25 million events, of which it reads three small columns.
SCAN = 86_400
#: Blocks per page: a page joins this many blocks of offsets when they are full, fewer at the
#: edges of the window and of a partition.
BLOCKS_PER_PAGE = 4

#: When the window's first and last events occurred, and how many there are: the part of a
#: window of days or years that :data:`BLOCKS` has to scan.
EXTENT = """
SELECT toUInt32(min(occurred_at)), toUInt32(max(occurred_at)), count()
FROM {db}.events
WHERE occurred_at >= toDateTime(%(since)s) AND occurred_at < toDateTime(%(until)s)
"""

#: Per partition and block of ``%(span)s`` offsets: its events in the slice, and their times.
BLOCKS = """
SELECT kafka_partition, intDiv(kafka_offset, %(span)s) AS block, count(),
       toUInt32(min(occurred_at)), toUInt32(max(occurred_at))
FROM {db}.events
WHERE occurred_at >= toDateTime(%(since)s) AND occurred_at < toDateTime(%(until)s)
GROUP BY kafka_partition, block
"""

#: One page: a partition's events at offsets ``[first, end)`` in offset order, read within
#: the page's times (``low`` to ``high``, both included: the times of the window's events
#: there, so no event outside the window).
PAGE = """
SELECT kafka_partition, kafka_offset, event_id, event_type, channel,
       toUInt64(occurred_at) * 1000 + occurred_ms, subscriber, session_id, prefecture, brand,
       attributes
FROM {db}.events
WHERE occurred_at >= toDateTime(%(low)s) AND occurred_at <= toDateTime(%(high)s)
  AND kafka_partition = %(partition)s
  AND kafka_offset >= %(first)s AND kafka_offset < %(end)s
ORDER BY kafka_offset
"""

#: Who the stage found in (1) or out of (0) each rule's control group: a ``holdout`` decision,
#: or one only a subscriber outside it can get (the holdout check comes before budget and
#: gateway, :mod:`orchestration.guardrails.policy`).
MEMBERSHIPS = """
SELECT rule_id, subscriber, max(outcome = 'holdout')
FROM {db}.nudge_decisions
WHERE rule_id IN %(rules)s AND requested_at >= toDateTime(%(since)s)
  AND (outcome IN ('approved', 'holdout') OR reason IN ('rate_limited', 'budget_exhausted'))
GROUP BY rule_id, subscriber
"""


@dataclass(frozen=True)
class Block:
    """The events of one partition whose offsets fall in ``[first, end)``: how many, and the
    earliest and latest of their times (Unix seconds)."""

    partition: int
    first: int
    end: int
    rows: int
    low: int
    high: int


def replay(
    client: Client,
    db: str,
    plan: Plan,
    *,
    page_rows: int,
    progress: Callable[[str], None] = lambda line: None,
    folded: Callable[[int, int], None] = lambda done, total: None,
) -> Replay:
    """Back-test ``plan`` over the events ClickHouse holds for its fold, read ``page_rows``
    at most per query; ``folded(done, total)`` hears how many of its events have been read,
    every :data:`CHUNK` and at the end."""
    since = plan.folded_from
    span = max(1, page_rows // BLOCKS_PER_PAGE)
    found = pages(blocks(client, db, since, plan.end, span), page_rows)
    total = sum(page.rows for page in found)
    progress(f"folding {total:,} events from {since.isoformat()} to {plan.end.isoformat()}")
    folded(0, total)
    known = memberships(client, db, [r.id for r in plan.rules()], since)
    result = backtest(
        plan, _counted(events(client, db, found), total, folded), known, progress,
        ledgers(client, db),
    )  # fmt: skip
    folded(result.report.events, total)
    return result


def _counted(
    rows: Iterator[StoredEvent], total: int, folded: Callable[[int, int], None]
) -> Iterator[StoredEvent]:
    for done, row in enumerate(rows, 1):
        if done % CHUNK == 0:
            folded(done, total)
        yield row


def blocks(client: Client, db: str, since: datetime, until: datetime, span: int) -> list[Block]:
    """Each partition's events in ``[since, until)`` per block of ``span`` offsets, in
    partition and offset order: :data:`BLOCKS` a :data:`SCAN` of the window's events at a
    time."""
    merged: dict[tuple[int, int], Block] = {}
    with storage_errors(f"cannot count {db}.events"):
        ((earliest, latest, count),) = client.execute(EXTENT.format(db=db), _window(since, until))
        start = int(earliest)
        while count and start <= latest:
            params = {"since": start, "until": min(start + SCAN, int(latest) + 1), "span": span}
            for partition, block, rows, low, high in client.execute(BLOCKS.format(db=db), params):
                seen = merged.get((partition, block))
                if seen is not None:
                    rows, low, high = seen.rows + rows, min(seen.low, low), max(seen.high, high)
                offset = int(block) * span
                merged[partition, block] = Block(
                    int(partition), offset, offset + span, int(rows), int(low), int(high)
                )
            start += SCAN
    return [merged[key] for key in sorted(merged)]


def pages(found: Iterable[Block], page_rows: int) -> list[Block]:
    """``found`` (in partition and offset order) joined into pages: consecutive blocks of one
    partition, as many as hold ``page_rows`` events together (a block holding more is a page
    of its own)."""
    joined: list[Block] = []
    for block in found:
        last = joined[-1] if joined else None
        if (
            last is not None
            and last.partition == block.partition
            and last.rows + block.rows <= page_rows
        ):
            joined[-1] = Block(
                last.partition, last.first, block.end, last.rows + block.rows,
                min(last.low, block.low), max(last.high, block.high),
            )  # fmt: skip
        else:
            joined.append(block)
    return joined


def events(client: Client, db: str, found: Iterable[Block]) -> Iterator[StoredEvent]:
    """The events of the pages ``found`` (of :func:`blocks` over a window: only the window's
    events), by partition and offset: a query per page, each read whole before its rows are
    yielded."""
    for page in found:
        params = {
            "partition": page.partition, "first": page.first, "end": page.end,
            "low": page.low, "high": page.high,
        }  # fmt: skip
        with storage_errors(f"cannot read {db}.events"):
            rows = client.execute(PAGE.format(db=db), params)
        for row in rows:
            yield StoredEvent(*row)


def memberships(
    client: Client, db: str, rule_ids: list[str], since: datetime
) -> dict[tuple[str, str], bool]:
    """(rule id, pseudonym) → whether the stage held the subscriber out, for every subscriber
    it took as far as the holdout check of one of ``rule_ids`` for a request since ``since``."""
    params = {"rules": tuple(rule_ids), "since": int(since.timestamp())}
    with storage_errors(f"cannot read {db}.nudge_decisions"):
        rows = client.execute(MEMBERSHIPS.format(db=db), params)
    return {(rule, subscriber): bool(member) for rule, subscriber, member in rows}


def ledgers(client: Client, db: str) -> Ledgers:
    """The catalogue's records in topic order and the content folded to its end (a record that
    no longer decodes is left out, as every reader of the topics skips it)."""
    with storage_errors(f"cannot read {db}.{catalogue_events.NAME}"):
        rows = client.execute(catalogue_events.IN_ORDER.format(db=db))
    catalogue, _ = ledger.decoded(
        (catalogue_events.record_json(row) for row in rows), catalogue_records.decode
    )
    with storage_errors(f"cannot read {db}.{content_events.NAME}"):
        rows = client.execute(content_events.IN_ORDER.format(db=db))
    content, _ = ledger.decoded(
        (content_events.record_json(row) for row in rows), content_records.decode
    )
    return Ledgers(catalogue=tuple(catalogue), content=fold_content(content))


def _window(since: datetime, until: datetime) -> dict[str, int]:
    return {"since": int(since.timestamp()), "until": int(until.timestamp())}
