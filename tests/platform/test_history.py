"""``up`` backfills only the part of the last day that ClickHouse does not hold yet."""

from datetime import UTC, datetime, timedelta

import pytest

from channelhub.platform.stack import simulator_history
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _insert_event_at(settings: Settings, occurred_at: datetime) -> None:
    connect(settings).execute(
        "INSERT INTO events (event_id, occurred_at) VALUES",
        [("00000000-0000-7000-8000-000000000001", occurred_at)],
    )


def test_empty_database_gets_a_full_day(settings: Settings, clickhouse_db: str) -> None:
    migrations.migrate(settings)
    assert simulator_history(settings, now=NOW) == ["--backfill-hours", "24", "--live"]


def test_a_stack_restarted_after_90_minutes_backfills_90_minutes(
    settings: Settings, clickhouse_db: str
) -> None:
    migrations.migrate(settings)
    _insert_event_at(settings, NOW - timedelta(minutes=90))
    assert simulator_history(settings, now=NOW) == ["--backfill-hours", "1.5", "--live"]


def test_history_is_capped_at_a_day_and_skipped_when_current(
    settings: Settings, clickhouse_db: str
) -> None:
    migrations.migrate(settings)
    _insert_event_at(settings, NOW - timedelta(days=9))
    assert simulator_history(settings, now=NOW)[:2] == ["--backfill-hours", "24"]
    _insert_event_at(settings, NOW - timedelta(seconds=20))
    assert simulator_history(settings, now=NOW) == ["--live"]
