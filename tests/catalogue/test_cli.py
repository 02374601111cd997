"""``channelhub service`` end to end on the real broker, sink and ClickHouse: the seed, a
service opened and another retired through every step, the refusals on the way, and the
trail read back from ClickHouse."""

import json
import subprocess
from typing import Any

import pytest

from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect
from tests.fixtures.cli import cli_ok, cli_refused, run_cli
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration

OPENING = [
    ("marketing_reviewed", "reviewer"),
    ("jointly_reviewed_and_developed", "developer"),
    ("live_and_tested", "ops"),
    ("content_and_training_ready", "content"),
    ("opened", "ops"),
]
RETIRING = [
    ("submitted", "billing"),
    ("marketing_reviewed", "marketing"),
    ("offline_and_tested", "ops"),
    ("content_updated", "content"),
    ("retired", "ops"),
]


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(settings, "service", *args)


def _ok(settings: Settings, *args: str) -> str:
    return cli_ok(settings, "service", *args)


def _refused(settings: Settings, *args: str) -> str:
    return cli_refused(settings, "service", *args)


def _listed(settings: Settings, source: str = "topic") -> dict[str, Any]:
    listed: dict[str, Any] = json.loads(_ok(settings, "list", "--json", "--from", source))
    return listed


def _request_id(said: str) -> str:
    return said.split("request ")[1].split(";")[0]


def test_a_service_opens_and_another_retires_through_every_step(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService
) -> None:
    migrations.migrate(settings)
    start_service("sink", "sinks", settings)
    assert "seeded 98 catalogue entries (0 already there)" in _ok(settings, "seed")
    assert "seeded 0 catalogue entries (98 already there)" in _ok(settings, "seed")
    seeded = _listed(settings)
    assert "0101" in seeded["channels"]["sms"]

    said = _ok(
        settings, "request-open", "handling.family_plan", "--ivr", "3-9", "--sms", "0207:JT,家庭",
        "--web", "family.plan", "--reason", "families ask for it", "--by", "marketing",
    )  # fmt: skip
    opening = _request_id(said)
    assert "out_of_order" in _refused(settings, "step", opening[:6], "opened", "--by", "ops")
    assert "own_request" in _refused(
        settings, "step", opening, "marketing_reviewed", "--by", "marketing"
    )
    assert "holds ['developer'], not 'marketing_reviewer'" in _refused(
        settings, "step", opening, "marketing_reviewed", "--by", "developer"
    )
    for step, who in OPENING:
        said = _ok(settings, "step", opening, step, "--by", who, "--note", f"{step} ok")
    assert "the service is opened" in said
    listed = _listed(settings)
    assert listed["channels"]["ivr"]["3-9"][0]["service"] == "handling.family_plan"
    assert listed["channels"]["sms"]["0207"][0]["entry"]["keywords"] == ["JT", "家庭"]
    assert "slot_taken" in _refused(
        settings, "request-open", "other.thing", "--ivr", "3-9", "--by", "product"
    )

    retiring = _request_id(
        _ok(settings, "request-retire", "query.points", "--channel", "sms", "--by", "billing")
    )
    for step, who in RETIRING:
        said = _ok(settings, "step", retiring, step, "--by", who)
    assert "the service is retired" in said
    listed = _listed(settings)
    assert "0103" not in listed["channels"]["sms"]
    assert "points.query" in listed["channels"]["web"]  # only the SMS code was retired
    assert listed["requests"] == []

    trail = _ok(settings, "show", opening)
    assert "requested by marketing as requester: families ask for it" in trail
    assert "opened by ops as channel_owner: opened ok" in trail

    def written() -> list[tuple[str, str, str]]:
        client = connect(settings)
        try:
            rows = client.execute(
                f"SELECT step, who, role FROM {clickhouse_db}.catalogue_events "
                "WHERE request_id = %(id)s AND event_type = 'service.step' ORDER BY kafka_offset",
                {"id": opening},
            )
        finally:
            client.disconnect()
        return rows if len(rows) == len(OPENING) else []

    rows = wait_for(written, "the sink to write the opening's steps")
    assert [(step, who) for step, who, _ in rows] == OPENING
    assert [role for _, _, role in rows] == [
        "marketing_reviewer", "developer", "tester", "content_owner", "channel_owner",
    ]  # fmt: skip
    assert wait_for(
        lambda: _listed(settings, "clickhouse") == listed or None,
        "the catalogue folded from ClickHouse to equal the topic's",
    )
