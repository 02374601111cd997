"""``channelhub campaign`` as marketing runs it, against the real broker, sink and ClickHouse."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from kernel.settings import Settings
from orchestration.campaigns import load_campaign_file
from sinks import migrations
from sinks.client import connect
from sinks.tables import nudge_decisions
from tests.campaigns.data import expected, insert, population
from tests.campaigns.test_loading import GOOD
from tests.fixtures.cli import cli_ok, run_cli
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration

HUNAN = timezone(timedelta(hours=8))


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(settings, "campaign", *args)


def _ok(settings: Settings, *args: str) -> str:
    return cli_ok(settings, "campaign", *args)


def _one_line_error(settings: Settings, code: int, *args: str) -> str:
    result = _cli(settings, *args)
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _listed(settings: Settings) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(_ok(settings, "list", "--json"))
    return listed


def test_create_preview_trigger_and_list(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    tmp_path: Path,
) -> None:  # fmt: skip
    migrations.migrate(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    known = population(300, now, seed=11)
    insert(settings, known)
    start_service("sink", "sinks", settings)
    file = tmp_path / "bill-reminder.toml"
    file.write_text(GOOD, encoding="utf-8")

    assert "no campaigns yet" in _ok(settings, "list")
    assert "created campaign 'bill-reminder'" in _ok(settings, "create", str(file), "--by", "ann")
    (listed,) = wait_for(lambda: _listed(settings), "the sink to write the campaign")
    assert (listed["campaign_id"], listed["created_by"], listed["scheduled_at"]) == (
        "bill-reminder", "ann", None,
    )  # fmt: skip

    want = expected(known, load_campaign_file(file).audience, now)
    for source in (str(file), "bill-reminder"):
        seen = json.loads(_ok(settings, "preview", source, "--as-of", now.isoformat(), "--json"))
        assert seen["size"] == len(want) > 0
        assert seen["by_prefecture"]["changsha"] == len(want)
    text = _ok(settings, "preview", "bill-reminder", "--as-of", now.isoformat())
    assert f"{len(want)} subscribers" in text

    at = (now + timedelta(hours=1)).astimezone(HUNAN)
    said = _ok(settings, "trigger", "bill-reminder", "--at", at.isoformat())
    assert f"triggered campaign 'bill-reminder' for {at.isoformat()}" in said
    (listed,) = wait_for(
        lambda: [c for c in _listed(settings) if c["triggers"]], "the sink to write the trigger"
    )
    (trigger,) = listed["triggers"]
    assert datetime.fromisoformat(trigger["scheduled_at"]) == at

    _decide(settings, "campaign:bill-reminder", ["approved", "approved", "held", "holdout"])
    _decide(settings, "agent.self_service_next_time", ["approved"])  # a rule's: not counted
    (listed,) = _listed(settings)
    assert listed["decisions"] == {"approved": 2, "held": 1, "holdout": 1}
    assert "bill-reminder" in (text := _ok(settings, "list"))
    assert "decisions: approved 2, held 1, holdout 1" in text

    again = _one_line_error(settings, 1, "create", str(file))
    assert "already exists" in again


def _decide(settings: Settings, rule_id: str, outcomes: list[str]) -> None:
    at = datetime.now(UTC).replace(microsecond=0)
    rows = [
        (f"n{i}:{o}", f"n{i}", rule_id, "s", o, "", at, i, at, at, 0, i, at)
        for i, o in enumerate(outcomes)
    ]
    client = connect(settings)
    client.execute(nudge_decisions.TABLE.insert.format(db=settings.clickhouse_database), rows)
    client.disconnect()


def test_mistakes_are_one_line_with_a_non_zero_exit(
    settings: Settings, clickhouse_db: str, tmp_path: Path
) -> None:
    migrations.migrate(settings)
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('["changsha"]', '["changsha", "gotham"]'), encoding="utf-8")
    line = _one_line_error(settings, 1, "create", str(bad))
    assert line.startswith(f"channelhub: {bad}: campaign 'bill-reminder', field ")
    assert "campaign.audience.prefectures[1]: 'gotham' is not a prefecture" in line
    assert "zhuzhou" in line

    assert "does not exist" in _one_line_error(settings, 2, "create", str(tmp_path / "no.toml"))
    assert "no campaign 'nope'" in _one_line_error(settings, 1, "trigger", "nope")
    assert "no campaign 'nope'" in _one_line_error(settings, 1, "preview", "nope")
    assert "--at" in _one_line_error(settings, 2, "trigger", "nope", "--at", "tomorrow")
    naive = _one_line_error(settings, 2, "trigger", "nope", "--at", "2026-03-03T10:00:00")
    assert "UTC offset" in naive
    assert "--as-of" in _one_line_error(settings, 2, "preview", "nope", "--as-of", "soon")


def test_a_trigger_in_the_past_is_refused(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    tmp_path: Path,
) -> None:  # fmt: skip
    migrations.migrate(settings)
    start_service("sink", "sinks", settings)
    file = tmp_path / "c.toml"
    file.write_text(GOOD, encoding="utf-8")
    _ok(settings, "create", str(file))
    wait_for(lambda: _listed(settings), "the sink to write the campaign")
    past = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    assert "in the past" in _one_line_error(settings, 1, "trigger", "bill-reminder", "--at", past)


def test_help_explains_the_campaign_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "channelhub.cli", "campaign", "--help"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    for command in ("create", "preview", "trigger", "list"):
        assert command in result.stdout
