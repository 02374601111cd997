"""``channelhub rules backtest`` on the real stack: a simulated week of traffic goes through the
live nudge stage into ClickHouse, then each shipped rule is back-tested over that week and
must make every decision the live stage recorded, exactly: the same nudges, outcomes, reasons,
instants and send times, requests released together at the end of quiet hours included.

The window is the whole history (the stage started from empty state with the first event), so
nothing before it is missing; it is read in pages of a few hundred events. ``nudge_decisions``
keeps a send time to the second and no order across partitions, so the back-test's decisions
are compared at that precision, in time order.
"""

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_driver import Client

from channelhub.marketing.backtest import Decided, Plan, final_outcomes
from channelhub.marketing.history import replay
from channelhub.platform.env import settings_env
from channelhub.platform.health import tcp_open
from kernel.settings import Settings
from orchestration.rules import load_shipped_rules
from sinks import migrations
from sinks.client import connect, database_name
from streams.nudges import partition_policy
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_until_settled

pytestmark = pytest.mark.integration

START = "2026-02-22T16:00:00Z"  # a Monday's midnight in Hunan: quiet hours, then the rush
HOURS = "168"  # a whole week, so weekly caps and every day's quiet hours come into play
SUBSCRIBERS = "1500"  # some 10,000 events in the week
#: Events per query of the back-test: the history is read in many pages.
PAGE_ROWS = 500


def _live(client: Client, rule_id: str) -> list[Decided]:
    """The rule's decisions as ``nudge_decisions`` holds them, in time order."""
    rows = client.execute(
        "SELECT nudge_id, subscriber, outcome, reason, toUInt64(decided_at) * 1000 + decided_ms, "
        "toUInt64(held_until) FROM nudge_decisions FINAL WHERE rule_id = %(rule)s",
        {"rule": rule_id},
    )
    return _in_time_order(Decided(*row[:5], row[5] * 1000 or None) for row in rows)


def _as_stored(decisions: Iterable[Decided]) -> list[Decided]:
    """The back-test's decisions as ``nudge_decisions`` would hold them: a send time to the
    second, in time order."""
    return _in_time_order(
        d._replace(send_ms=None if d.send_ms is None else d.send_ms // 1000 * 1000)
        for d in decisions
    )


def _in_time_order(decisions: Iterable[Decided]) -> list[Decided]:
    return sorted(decisions, key=lambda d: (d.decided_ms, d.nudge_id, d.outcome, d.reason))


def test_each_shipped_rule_backtests_to_what_the_live_stage_decided(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
) -> None:  # fmt: skip
    settings = settings.model_copy(update={"backtest_page_rows": PAGE_ROWS})  # the CLI's too
    migrations.migrate(settings)
    start_service(
        "worker", "streams", settings,
        health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120,
    )  # fmt: skip
    start_service("sink", "sinks", settings)
    simulated = subprocess.run(
        [sys.executable, "-m", "channelhub.simulator", "--backfill-hours", HOURS, "--start", START,
         "--subscribers", SUBSCRIBERS, "--seed", "5"],
        env={**os.environ, **settings_env(settings)}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    wait_until_settled(settings, timeout=180)
    client = connect(settings)
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    reasons: Counter[str] = Counter()
    for rule in load_shipped_rules():
        plan = Plan(
            candidate=rule, live=tuple(load_shipped_rules()), policy=partition_policy(settings),
            start=datetime.fromisoformat(START) - timedelta(days=1), end=end,
        )  # fmt: skip
        result = replay(client, database_name(settings), plan, page_rows=PAGE_ROWS)
        assert result.report.events > 10 * PAGE_ROWS
        live = _live(client, rule.id)
        assert _as_stored(result.decisions) == live, rule.id
        assert result.report.outcomes == dict(
            sorted(Counter(final_outcomes(live).values()).items())
        ), rule.id  # fmt: skip
        assert (result.report.unreadable, result.report.holdout_drawn) == (0, 0), rule.id
        reasons.update(result.report.outcomes)
    # the week reaches the weekly caps and holds requests over a night's quiet hours
    assert {
        "approved", "holdout", "suppressed:frequency_cap_rule_week", "held:quiet_hours"
    } <= set(reasons), reasons  # fmt: skip

    source = load_shipped_rules()[0].source
    days = str((end - datetime.fromisoformat(START)).days + 2)  # the whole history
    cli = subprocess.run(
        [sys.executable, "-m", "channelhub.cli", "rules", "backtest", source, "--days", days,
         "--warmup-days", "0", "--json"],
        env={**os.environ, **settings_env(settings)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert "folding" in cli.stderr
    report = json.loads(cli.stdout)
    assert report["outcomes"] == dict(
        sorted(Counter(final_outcomes(_live(client, report["rule_id"])).values()).items())
    )  # fmt: skip
