"""Only published texts go out, on the real stack: a rule's new text waits in review while its
published version keeps being sent, and goes out once published.

The worker (validation and nudges) runs with this test's rule directory and the sink writes
ClickHouse. The rule's first text is published through the four reviews before the worker
starts; then the rule file is changed to a new text and that text drafted and reviewed but not
published: the stage refuses the file and keeps the published version running. Once the last
step publishes the new text, the stage takes it up without a file change, and each nudge
records the version it was rendered from.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from kafka import KafkaProducer

from channelhub.platform.health import tcp_open
from channelhub.platform.process import ManagedProcess
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect
from tests.fixtures.cli import cli_ok
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_for
from tests.orchestration.events import make

pytestmark = pytest.mark.integration

ITEM = "rule:t.copy"
FIRST, SECOND = "【湖南移动】第一版。", "【湖南移动】第二版。"
RULE = """
version = 1
[rule]
id = "t.copy"
description = "test: at once"
triggers = ["web.function_used"]
template = "{text}"
[rule.guardrails]
holdout_share = 0.0
[rule.goal]
kind = "no_agent_call"
"""
REVIEWS = [
    ("branch_reviewed", "branch_admin"),
    ("column_reviewed", "column"),
    ("knowledge_checked", "centre"),
    ("published", "centre"),
]
TEN_AM = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Hunan, outside quiet hours


def _content(settings: Settings, *args: str) -> str:
    return cli_ok(settings, "content", *args)


def _trigger(settings: Settings, msisdn: str, minute: int) -> None:
    event = make(
        "web.function_used", {"function": "bill.monthly"}, msisdn=msisdn,
        occurred_at=(TEN_AM + timedelta(minutes=minute)).isoformat(timespec="milliseconds"),
    )  # fmt: skip
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    producer.send(settings.topic_raw, msgspec.json.encode(event), key=msisdn.encode())
    producer.flush()
    producer.close()


def _log_count(worker: ManagedProcess, text: str) -> int:
    return worker.log_path.read_text(encoding="utf-8", errors="replace").count(text)


def test_a_new_text_is_not_sent_until_published_and_then_is(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    tmp_path: Path,
) -> None:  # fmt: skip
    rules = tmp_path / "rules"
    rules.mkdir()
    rule_file = rules / "t_copy.toml"
    rule_file.write_text(RULE.replace("{text}", FIRST), encoding="utf-8")
    settings = settings.model_copy(update={"rules_dir": rules, "rules_reload_seconds": 0.5})
    migrations.migrate(settings)
    start_service("sink", "sinks", settings)
    _content(settings, "seed")
    _content(settings, "draft", ITEM, FIRST, "--by", "editor")
    for step, who in REVIEWS:
        _content(settings, "step", ITEM, step, "--by", who)
    health = tcp_open("127.0.0.1", settings.worker_web_port)
    worker = start_service("worker", "streams", settings, health=health, timeout=120)
    client = connect(settings)
    pseudonymize = Pseudonymizer.from_settings(settings)

    def sent_to(msisdn: str) -> list[tuple[str, int]]:
        rows = client.execute(
            f"SELECT text, template_version FROM {clickhouse_db}.nudge_requests "
            "WHERE rule_id = 't.copy' AND subscriber = %(s)s",
            {"s": pseudonymize(msisdn)},
        )
        return [(text, version) for text, version in rows]

    _trigger(settings, "13810000001", 0)
    assert wait_for(lambda: sent_to("13810000001"), "the first nudge") == [(FIRST, 1)]

    # The file now holds a text in review: refused, the published version keeps running.
    rule_file.write_text(RULE.replace("{text}", SECOND), encoding="utf-8")
    _content(settings, "draft", ITEM, SECOND, "--by", "editor")
    for step, who in REVIEWS[:3]:
        _content(settings, "step", ITEM, step, "--by", who)
    wait_for(
        lambda: _log_count(worker, "this text is not a published version of rule:t.copy"),
        "the stage to refuse the unpublished text",
    )
    _trigger(settings, "13810000002", 1)
    assert wait_for(lambda: sent_to("13810000002"), "the second nudge") == [(FIRST, 1)]

    # Published: taken up at the next reload, with no change to the file.
    reloads = _log_count(worker, "(0 files rejected)")
    _content(settings, "step", ITEM, "published", "--by", "centre")
    wait_for(
        lambda: _log_count(worker, "(0 files rejected)") > reloads,
        "the stage to take up the published text",
    )
    _trigger(settings, "13810000003", 2)
    assert wait_for(lambda: sent_to("13810000003"), "the third nudge") == [(SECOND, 2)]
