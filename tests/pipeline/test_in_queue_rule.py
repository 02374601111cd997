"""The in-queue rule on simulated traffic, on the real broker, stages and ClickHouse.

A busy first-of-the-month morning is produced at a paced rate (so that, as with live traffic,
a waiting caller is still waiting when the prediction of their wait comes back), through
validation, the wait predictor (``--stage waits``), the nudge stage and the sink. Then:
every queue join the predictor had enough history for has its ``ivr.wait_predicted`` in
ClickHouse; ``ivr.predicted_long_wait`` fired, only on predictions over its threshold, only
while the caller was still queued (its decision before the caller's answer or abandonment),
and within its guardrails (caps per subscriber and day, holdout drawn, nothing in quiet hours).
"""

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from channelhub.platform.env import settings_env
from channelhub.platform.health import tcp_open
from kernel.settings import Settings
from orchestration.rules import SHIPPED_RULES_DIR
from sinks import migrations
from sinks.client import connect
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import group_lag, wait_for

pytestmark = pytest.mark.integration

RULE = "ivr.predicted_long_wait"
#: 09:00 in Hunan on the 1st: a busy morning. Paced at RATE events/s, about 25 s of simulated
#: time pass per second, so a caller waiting a minute waits a few seconds of wall time.
START, EVENTS, SEED, RATE = "2026-03-01T01:00:00Z", "5000", "3", "40"
#: The shipped threshold is 60 s; a lower one here gives the short run more triggers.
THRESHOLD = 30


def test_the_in_queue_rule_fires_while_callers_wait_and_within_its_guardrails(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    tmp_path: Path,
) -> None:  # fmt: skip
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED_RULES_DIR, rules)
    path = rules / "predicted_long_wait.toml"
    text = path.read_text("utf-8")
    assert "value = 60 " in text
    path.write_text(text.replace("value = 60 ", f"value = {THRESHOLD} "), "utf-8")
    # Paced traffic would have the sink write a few rows every half second: fewer, larger
    # inserts keep ClickHouse's part count (and the database's drop at teardown) small.
    settings = settings.model_copy(update={"rules_dir": rules, "sink_flush_seconds": 5.0})
    migrations.migrate(settings)
    start_service("worker", "streams", settings,
                  health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120)  # fmt: skip
    start_service("waits", "streams", settings, "--stage", "waits",
                  health=tcp_open("127.0.0.1", settings.waits_web_port), timeout=120)  # fmt: skip
    start_service("sink", "sinks", settings)
    simulator = subprocess.run(
        [sys.executable, "-m", "channelhub.simulator", "--events", EVENTS, "--start", START,
         "--seed", SEED, "--rate", RATE],
        env={**os.environ, **settings_env(settings)}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert simulator.returncode == 0, simulator.stderr
    groups = {
        "validate": [settings.topic_raw],
        "waits": [settings.topic_events],
        "nudges": [settings.topic_events],
        "sink": [settings.topic_events, settings.topic_nudges_requested,
                 settings.topic_nudges_decisions],
    }  # fmt: skip
    client = connect(settings)

    def scalar(sql: str) -> int:
        ((n,),) = client.execute(sql)
        return int(n)

    def settled() -> bool:
        lags = [group_lag(settings.kafka_bootstrap, f"{settings.group_prefix}-{g}", t)
                for g, t in groups.items()]  # fmt: skip
        stored = scalar("SELECT count() FROM events WHERE event_type != 'ivr.wait_predicted'")
        return not any(lags) and stored == int(EVENTS)

    wait_for(settled, "every stage to read the morning and the sink to store it", timeout=180)
    wait_for(lambda: not any(group_lag(settings.kafka_bootstrap, f"{settings.group_prefix}-{g}",
                                       t) for g, t in groups.items()),
             "the predictions to be folded and stored")  # fmt: skip

    # Every join after the predictor's warm-up has its prediction, in the same session.
    joins = scalar("SELECT count() FROM events WHERE event_type = 'ivr.queue_entered'")
    predicted = client.execute(
        "SELECT p.session_id FROM events AS p WHERE p.event_type = 'ivr.wait_predicted' "
        "AND p.session_id NOT IN (SELECT session_id FROM events "
        "WHERE event_type = 'ivr.queue_entered')"
    )
    assert predicted == [], "a prediction without its join"
    n_predicted = scalar("SELECT count() FROM events WHERE event_type = 'ivr.wait_predicted'")
    assert joins - 40 < n_predicted < joins, (joins, n_predicted)  # warm-up: 20 answers

    # The rule's requests: each on a prediction over the threshold, decided while queued.
    requests = client.execute(
        "SELECT nudge_id, any(subscriber), any(toDate(requested_at, 'Asia/Shanghai')), "
        "any(trigger_event_id) FROM nudge_requests WHERE rule_id = %(rule)s GROUP BY nudge_id",
        {"rule": RULE},
    )
    fates = {
        nudge: (outcome, reason, decided_ms)
        for nudge, outcome, reason, decided_ms in client.execute(
            "SELECT nudge_id, argMax(outcome, toUInt64(decided_at) * 1000 + decided_ms), "
            "argMax(reason, toUInt64(decided_at) * 1000 + decided_ms), "
            "max(toUInt64(decided_at) * 1000 + decided_ms) "
            "FROM nudge_decisions WHERE rule_id = %(rule)s GROUP BY nudge_id",
            {"rule": RULE},
        )
    }
    predictions = {
        event_id: (session, wait)
        for event_id, session, wait in client.execute(
            "SELECT event_id, session_id, visitParamExtractFloat(attributes, 'predicted_wait_s') "
            "FROM events WHERE event_type = 'ivr.wait_predicted'"
        )
    }
    ended = dict(
        client.execute(
            "SELECT session_id, min(toUInt64(occurred_at) * 1000 + occurred_ms) FROM events "
            "WHERE event_type IN ('ivr.agent_answered', 'ivr.abandoned') GROUP BY session_id"
        )
    )
    assert len(requests) >= 5, requests
    outcomes = Counter(fates[nudge][0] for nudge, *_ in requests)
    assert outcomes["approved"] > 0, outcomes
    assert set(outcomes) <= {"approved", "holdout", "suppressed"}, outcomes
    approved_per_day: Counter[tuple[str, object]] = Counter()
    for nudge, subscriber, day, trigger in requests:
        outcome, reason, decided_ms = fates[nudge]
        session, wait = predictions[trigger]
        assert wait > THRESHOLD
        assert reason != "quiet_hours"
        if outcome in ("approved", "holdout"):
            assert decided_ms <= ended[session], "decided after the caller left the queue"
        if outcome == "approved":
            approved_per_day[(subscriber, day)] += 1
    assert max(approved_per_day.values()) <= 1  # rule_per_day = 1
