"""Dashboard fixtures: a migrated test database and the headless browser."""

import pytest

from kernel.settings import Settings
from sinks import migrations
from tests.dashboards.browser import browser

__all__ = ["browser", "migrated"]


@pytest.fixture
def migrated(settings: Settings, clickhouse_db: str) -> Settings:
    """``settings`` whose database has the tables of every migration, empty."""
    migrations.migrate(settings)
    return settings
