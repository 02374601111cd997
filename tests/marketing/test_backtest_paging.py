"""The back-test reads a window larger than one query may return, as the dashboard's
read-only user, and reports exactly what one fold of all its events in order reports.

A ClickHouse of its own whose read-only profile returns at most :data:`RESULT_ROWS` rows a
query (the deployment's allows a million): the events written as the sink writes them, some
of each partition's delivered late (offsets out of time order, so pages' times overlap), over
three days (so blocks are counted a day at a time and joined). Reading them all in one query
is refused; the paged back-test, in pages well under the limit, gives the report and every
decision of :func:`backtest` over the same rows in memory.
"""

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clickhouse_driver.errors import Error as DriverError

from channelhub.marketing import history
from channelhub.marketing.backtest import Plan, StoredEvent, backtest
from channelhub.platform import clickhouse
from dashboards import db
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from orchestration.rules import load_shipped_rules
from sinks import migrations
from sinks.client import connect
from sinks.tables.events import TABLE as EVENTS
from streams.nudges import partition_policy
from tests.fixtures.services import free_port, local_settings, start_process
from tests.streams.nudge_fold import by_partition, simulated

pytestmark = pytest.mark.integration

RESULT_ROWS = 400
PAGE_ROWS = 300
PARTITIONS = 4
#: Seven in the morning in Hunan on 1 March: the traffic runs into the next UTC day.
START = datetime(2026, 2, 28, 23, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings of a ClickHouse whose read-only user gets :data:`RESULT_ROWS` rows a query,
    its database migrated."""
    state_dir = tmp_path_factory.mktemp("limited")
    settings = local_settings(
        environment="development", state_dir=state_dir, clickhouse_port=free_port(),
        clickhouse_http_port=free_port(), clickhouse_database="paging",
        dashboard_result_rows=RESULT_ROWS, backtest_page_rows=PAGE_ROWS,
        topic_partitions=PARTITIONS,
    )  # fmt: skip
    process = start_process(clickhouse.spec(settings), state_dir)
    try:
        migrations.migrate(settings)
        yield settings
    finally:
        process.stop()


def _stored(start: datetime) -> tuple[list[tuple], list[StoredEvent]]:
    """Rows of simulated traffic from ``start`` as the sink inserts them, and the same as the
    back-test reads them (by partition, then offset): every 40th event of a partition is
    delivered after the rest of it, at the end of its offsets."""
    pseudonymize = Pseudonymizer(b"paging-test-key")
    events = simulated(3000, seed=11, start_ms=int(start.timestamp() * 1000))
    rows, stored = [], []
    for partition, part in by_partition(events, PARTITIONS).items():
        late = part[::40]
        for offset, event in enumerate([e for e in part if e not in late] + late):
            _, row = EVENTS.row(
                event, partition=partition, offset=offset, ingested_at=start,
                pseudonymize=pseudonymize,
            )  # fmt: skip
            rows.append(row)
            v = dict(zip(EVENTS.columns, row, strict=True))
            stored.append(
                StoredEvent(
                    partition, offset, v["event_id"], v["event_type"], v["channel"],
                    int(v["occurred_at"].timestamp()) * 1000 + v["occurred_ms"],
                    v["subscriber"], v["session_id"], v["prefecture"], v["brand"],
                    v["attributes"],
                )
            )  # fmt: skip
    random.Random(3).shuffle(rows)
    return rows, sorted(stored, key=lambda s: (s.partition, s.offset))


def test_a_paged_back_test_reports_what_one_fold_of_every_event_does(
    limited: Settings, tmp_path: Path
) -> None:
    rows, stored = _stored(START)
    admin = connect(limited)
    try:
        admin.execute(EVENTS.insert.format(db="paging"), rows)
    finally:
        admin.disconnect()
    assert len(stored) > 4 * RESULT_ROWS
    midnight = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
    assert min(s.occurred_ms for s in stored) < midnight < max(s.occurred_ms for s in stored)
    rules = load_shipped_rules()
    plan = Plan(
        candidate=rules[0], live=tuple(rules), policy=partition_policy(limited),
        start=START - timedelta(days=1), end=START + timedelta(days=2),
    )  # fmt: skip
    expected = backtest(plan, stored, {})

    with db.client(limited) as client:
        with pytest.raises(DriverError):
            client.execute("SELECT event_id FROM events")  # more than the profile returns
        seen: list[int] = []
        counting = _Counting(client, seen)
        got = history.replay(counting, "paging", plan, page_rows=limited.backtest_page_rows)

    assert got.report == expected.report
    assert got.decisions == expected.decisions
    assert got.report.events == len(stored)
    assert got.report.requested > 0
    assert max(seen) <= PAGE_ROWS < RESULT_ROWS
    assert len(seen) > len(stored) // PAGE_ROWS


class _Counting:
    """The read-only client, noting how many rows each query returned."""

    def __init__(self, client: object, seen: list[int]) -> None:
        self._client, self._seen = client, seen

    def execute(self, sql: str, params: object = None) -> list[tuple]:
        rows = self._client.execute(sql, params)  # type: ignore[attr-defined]
        self._seen.append(len(rows))
        return rows  # type: ignore[no-any-return]
