"""``channelhub content`` end to end on the real broker, sink and ClickHouse: the seed, a
template changed through the four reviews, a rejection and a failed knowledge check on the
way, the refusals that say what is due, and the trail read back from ClickHouse."""

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from channelhub.content.seed import EXAMPLE_CAMPAIGNS, seed_records
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect
from tests.fixtures.cli import cli_ok, cli_refused, run_cli
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration

ITEM = "rule:ivr.long_agent_wait"
EXAMPLE = EXAMPLE_CAMPAIGNS / "sms_hall_winback.toml"
NEW = "【湖南移动】{brand_name}客户您好，{service_name}可自助办理：{self_service_hint}。"  # noqa: RUF001
REVIEWS = [
    ("branch_reviewed", "branch_admin"),
    ("column_reviewed", "column"),
    ("knowledge_checked", "centre"),
    ("published", "centre"),
]


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(settings, "content", *args)


def _ok(settings: Settings, *args: str) -> str:
    return cli_ok(settings, "content", *args)


def _refused(settings: Settings, *args: str) -> str:
    return cli_refused(settings, "content", *args)


def _shown(settings: Settings, source: str = "topic") -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(_ok(settings, "show", ITEM, "--json", "--from", source))
    return shown


def _timeless(shown: dict[str, Any]) -> dict[str, Any]:
    return {**shown, "trail": [{k: v for k, v in t.items() if k != "at"} for t in shown["trail"]]}


def test_a_template_change_is_published_only_after_the_four_reviews(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    migrations.migrate(settings)
    start_service("sink", "sinks", settings)
    shipped = len(seed_records(datetime.now(UTC)))  # every shipped rule and example campaign
    assert shipped >= 7
    assert f"seeded {shipped} content items (0 already there)" in _ok(settings, "seed")
    assert f"seeded 0 content items ({shipped} already there)" in _ok(settings, "seed")
    seeded = _shown(settings)
    assert seeded["published_version"] == 1
    assert seeded["trail"][0]["who"] == "system"

    assert "is a branch_maintainer for ['zhuzhou'], not for 'province'" in _refused(
        settings, "draft", ITEM, NEW, "--by", "zhuzhou"
    )
    said = _ok(settings, "draft", ITEM, "{typo}", "--by", "editor")
    assert "drafted version 2" in said
    assert "in_review" in _refused(settings, "draft", ITEM, NEW, "--by", "editor")
    assert "own_draft" in _refused(settings, "step", ITEM, "branch_reviewed", "--by", "editor")
    assert "out_of_order" in _refused(settings, "step", ITEM, "published", "--by", "centre")
    for step, who in REVIEWS[:2]:
        _ok(settings, "step", ITEM, step, "--by", who)
    failed = _refused(settings, "step", ITEM, "knowledge_checked", "--by", "centre")
    assert "fails the knowledge-base check: template refers to unknown field {typo}" in failed
    _ok(settings, "reject", ITEM, "--reason", "占位符有误", "--by", "centre")
    assert _shown(settings)["published_version"] == 1

    assert "drafted version 3" in _ok(settings, "draft", ITEM, NEW, "--by", "editor")
    for step, who in REVIEWS:
        said = _ok(settings, "step", ITEM, step, "--by", who)
    assert "it is now the version in use" in said
    shown = _shown(settings)
    assert (shown["published_version"], shown["published_text"]) == (3, NEW)
    assert [v["status"] for v in shown["versions"]] == ["published", "rejected", "published"]
    checked = next(
        t for t in shown["trail"] if t["action"] == "knowledge_checked" and t["version"] == 3
    )
    assert "placeholders brand_name, service_name, self_service_hint fillable" in checked["note"]
    trail = _ok(settings, "show", ITEM)
    assert "v2 rejected by centre as service_centre: 占位符有误" in trail
    listed = _ok(settings, "list")
    assert f"{ITEM}  v3 published" in listed

    def written() -> list[tuple[str, int, str, str]]:
        client = connect(settings)
        try:
            rows = client.execute(
                f"SELECT event_type, version, step, who FROM {clickhouse_db}.content_events "
                "WHERE item = %(item)s ORDER BY kafka_offset",
                {"item": ITEM},
            )
        finally:
            client.disconnect()
        return rows if len(rows) == len(shown["trail"]) else []

    rows = wait_for(written, "the sink to write the item's trail")
    assert [(v, s, w) for t, v, s, w in rows if t == "content.step" and v == 3] == [
        (3, step, who) for step, who in REVIEWS
    ]
    assert wait_for(
        lambda: _timeless(_shown(settings, "clickhouse")) == _timeless(shown) or None,
        "the item folded from ClickHouse to equal the topic's (times are stored to the second)",
    )


def test_bad_arguments_are_one_line(settings: Settings, topics: Topics) -> None:
    assert "names no prefecture" in _refused(
        settings, "draft", "web:atlantis:faq", "x", "--by", "editor"
    )
    assert "not a step of publishing" in _refused(settings, "step", ITEM, "approved", "--by", "x")
    assert "nothing of rule:nope is drafted" in _refused(
        settings, "reject", "rule:nope", "--reason", "r", "--by", "centre"
    )
    assert "item: Expected `str` matching regex" in _refused(
        settings, "draft", "nope", "x", "--by", "editor"
    )


def test_a_campaign_is_created_only_with_a_published_text(
    settings: Settings, topics: Topics, clickhouse_db: str, tmp_path: Path
) -> None:
    migrations.migrate(settings)
    _ok(settings, "seed")
    source = EXAMPLE.read_text(encoding="utf-8")
    changed = tmp_path / "winback.toml"
    changed.write_text(source.replace("免排队。", "不用排队。"), encoding="utf-8")
    result = run_cli(settings, "campaign", "create", str(changed))
    assert result.returncode != 0
    assert (
        "campaign.template: this text is not a published version of campaign:sms-hall-winback"
        in (result.stderr)
    )
    assert "sms-hall-winback" in cli_ok(settings, "campaign", "create", str(EXAMPLE))
