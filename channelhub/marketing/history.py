"""What a back-test (:mod:`channelhub.marketing.backtest`) reads from ClickHouse, and only
reads: the stored events of a window in the order the nudge stage read them, the holdout
membership the stage recorded for the rules it runs, and the service catalogue's and the
content's records (:func:`ledgers`). :func:`replay` runs a plan over them.
"""

from collections.abc import Callable, Iterator
from datetime import datetime

from clickhouse_driver import Client

from channelhub.content import store as content_store
from channelhub.ingest import ledger
from channelhub.marketing.backtest import CHUNK, Ledgers, Plan, Replay, StoredEvent, backtest
from schemas import catalogue as catalogue_records
from sinks.client import storage_errors
from sinks.tables import catalogue_events

#: Each partition of ``channel.events`` in offset order: the order the stage folded it in.
EVENTS = """
SELECT kafka_partition, kafka_offset, event_id, event_type, channel,
       toUInt64(occurred_at) * 1000 + occurred_ms, subscriber, session_id, prefecture, brand,
       attributes
FROM {db}.events
WHERE occurred_at >= toDateTime(%(since)s) AND occurred_at < toDateTime(%(until)s)
ORDER BY kafka_partition, kafka_offset
"""

COUNT = """
SELECT count() FROM {db}.events
WHERE occurred_at >= toDateTime(%(since)s) AND occurred_at < toDateTime(%(until)s)
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


def replay(
    client: Client,
    db: str,
    plan: Plan,
    progress: Callable[[str], None] = lambda line: None,
    folded: Callable[[int, int], None] = lambda done, total: None,
) -> Replay:
    """Back-test ``plan`` over the events ClickHouse holds for its fold; ``folded(done,
    total)`` hears how many of its events have been read, every :data:`CHUNK` and at the end."""
    since = plan.folded_from
    total = count_events(client, db, since, plan.end)
    progress(f"folding {total:,} events from {since.isoformat()} to {plan.end.isoformat()}")
    folded(0, total)
    known = memberships(client, db, [r.id for r in plan.rules()], since)
    result = backtest(
        plan, _counted(events(client, db, since, plan.end), total, folded), known, progress,
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


def count_events(client: Client, db: str, since: datetime, until: datetime) -> int:
    """How many stored events occurred in ``[since, until)``: the size of the fold."""
    with storage_errors(f"cannot count {db}.events"):
        ((count,),) = client.execute(COUNT.format(db=db), _window(since, until))
    return int(count)


def events(client: Client, db: str, since: datetime, until: datetime) -> Iterator[StoredEvent]:
    """Every stored event that occurred in ``[since, until)``, by partition and offset,
    streamed."""
    with storage_errors(f"cannot read {db}.events"):
        rows = client.execute_iter(
            EVENTS.format(db=db), _window(since, until), settings={"max_block_size": 10_000}
        )
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
    """The catalogue's records in topic order (a record that no longer decodes is left out,
    as every reader of the topic skips it) and the content folded to its end."""
    with storage_errors(f"cannot read {db}.{catalogue_events.NAME}"):
        rows = client.execute(catalogue_events.IN_ORDER.format(db=db))
    records, _ = ledger.decoded(
        (catalogue_events.record_json(row) for row in rows), catalogue_records.decode
    )
    return Ledgers(
        catalogue=tuple(records), content=content_store.read_clickhouse(client, db).content
    )


def _window(since: datetime, until: datetime) -> dict[str, int]:
    return {"since": int(since.timestamp()), "until": int(until.timestamp())}
