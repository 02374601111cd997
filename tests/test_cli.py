"""The command line as operators script it: one-line errors, exit codes, summaries."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.events import EVENT_TYPES


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "channelhub.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["simulate", "--events", "abc"], "--events"),
        (["simulate", "--events", "5", "--bad-fraction", "2"], "--bad-fraction"),
        (["no-such-command"], "No such command"),
        (["schemas", "export"], "Missing argument"),
        (["migrate", "--bogus"], "--bogus"),
        (["rules", "backtest", "no-such-rule.toml"], "no-such-rule.toml"),
        (["rules", "backtest", "pyproject.toml", "--days", "0"], "--days"),
        (["service", "request-open", "a.new"], "name at least one entry"),
        (["service", "request-open", "a.new", "--sms", "01x"], "--sms"),
        (["service", "request-retire", "a.new", "--channel", "fax"], "--channel"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(args: list[str], says: str) -> None:
    result = _cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert says in lines[0]


def test_invalid_settings_are_named_in_one_line() -> None:
    result = _cli("status", CHANNELHUB_TOPIC_PARTITIONS="0")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "channelhub: invalid settings: CHANNELHUB_TOPIC_PARTITIONS: "
        "Input should be greater than or equal to 1"
    )


def test_the_cli_holds_no_secret_so_production_asks_for_none() -> None:
    """Each process checks the secrets it uses (tests/kernel/test_secrets.py); the CLI uses
    none, so it runs in production with the placeholders left as they are."""
    result = _cli("status", CHANNELHUB_ENVIRONMENT="production")
    assert result.returncode == 0, result.stderr


def test_unreachable_clickhouse_is_one_line_exit_1() -> None:
    result = _cli("migrate", CHANNELHUB_CLICKHOUSE_PORT="1")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "cannot migrate ClickHouse database 'channelhub'" in result.stderr


def test_a_broken_rule_file_is_one_line_exit_1_before_anything_is_read(tmp_path: Path) -> None:
    rule = tmp_path / "broken.toml"
    rule.write_text('version = 1\n[rule]\nid = "x"\n', encoding="utf-8")
    result = _cli("rules", "backtest", str(rule), CHANNELHUB_CLICKHOUSE_PORT="1")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "broken.toml" in result.stderr


def test_simulate_to_ndjson_ends_with_its_summary(tmp_path: Path) -> None:
    out = tmp_path / "events.ndjson"
    args = ["simulate", "--events", "3000", "--seed", "5", "--bad-fraction", "0.1"]
    args += ["--start", "2026-11-02T00:00:00Z", "--output", "ndjson", "--file", str(out)]
    result = _cli(*args)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["events"] == 3000 == len(out.read_text().splitlines())
    assert sum(summary["valid"].values()) + summary["invalid"] == 3000
    assert summary["invalid"] == sum(summary["invalid_by_kind"].values()) > 0
    again = tmp_path / "again.ndjson"
    assert _cli(*args[:-1], str(again)).returncode == 0
    assert again.read_bytes() == out.read_bytes()


def test_schemas_export_writes_files(tmp_path: Path) -> None:
    result = _cli("schemas", "export", str(tmp_path / "schemas"))
    assert result.returncode == 0
    # one per event type, and the union of them all
    assert f"wrote {len(EVENT_TYPES) + 1} schema file(s)" in result.stdout
    assert (tmp_path / "schemas" / "ivr.queue_entered.schema.json").exists()


def test_help_explains_every_command() -> None:
    result = _cli("--help")
    assert result.returncode == 0
    for command in ("up", "down", "status", "migrate", "simulate", "schemas", "rules", "service"):
        assert command in result.stdout


def test_a_service_request_by_someone_without_the_role_is_one_line_before_any_broker() -> None:
    result = _cli(
        "service", "request-open", "a.new", "--web", "a.page", "--by", "developer",
        CHANNELHUB_KAFKA_BOOTSTRAP="127.0.0.1:1",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "'developer' holds ['developer'], not 'requester'" in result.stderr
