"""Fixtures for every test package; the service fixtures live in tests/fixtures/services.py."""

from tests.fixtures.services import (
    broker,
    clickhouse_db,
    clickhouse_server,
    settings,
    start_service,
    topics,
)

__all__ = ["broker", "clickhouse_db", "clickhouse_server", "settings", "start_service", "topics"]
