"""Alert rules changed on the queue page: which events a change makes, how the newest change
per rule lays over the file, and the whole path on the real services: broker, sink,
ClickHouse, and the evaluator process alerting by a changed threshold."""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from kafka import KafkaConsumer

from dashboards import db
from dashboards.alerts import changes
from dashboards.alerts.rules import ANSWER_WITHIN, DEFAULT_FILE, AlertConfigError, load
from kernel.settings import Settings
from schemas.alerts import AlertEvent, RuleChange
from sinks import migrations
from sinks.routes import routes
from sinks.tables import alert_rule_changes
from tests.dashboards.queue_data import Call, insert_calls
from tests.fixtures.services import StartService, Topics

T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
FILE = load(DEFAULT_FILE)


def in_file() -> dict[str, dict[str, object]]:
    """Every rule's values as the shipped file has them, as the page would submit them."""
    values: dict[str, dict[str, object]] = {
        r.id: {"threshold": r.threshold, "window_minutes": r.window_minutes, "severity": r.severity}
        for r in FILE.rules
    }
    values[ANSWER_WITHIN] = {"threshold": FILE.service_level.answer_within_s}
    return values


def change(rule_id: str, at: datetime = T0, **fields: Any) -> RuleChange:
    return RuleChange(
        change_id=f"{rule_id}@{at:%H%M%S}", rule_id=rule_id, at=at, changed_by="ops", **fields
    )


# --- which events, and what is in force -----------------------------------------------------


def test_only_the_rules_that_differ_become_events_each_with_all_its_values() -> None:
    submitted = in_file()
    assert changes.changes(FILE, FILE, submitted, by="ops", now=T0) == []

    submitted["asa-slow"] = {"threshold": 45, "window_minutes": 15, "severity": "critical"}
    submitted[ANSWER_WITHIN] = {"threshold": 30}
    made = changes.changes(FILE, FILE, submitted, by="ops", now=T0)
    assert [(c.rule_id, c.threshold, c.window_minutes, c.severity) for c in made] == [
        ("asa-slow", 45.0, 15, "critical"),
        (ANSWER_WITHIN, 30.0, None, None),
    ]
    assert {c.changed_by for c in made} == {"ops"}
    assert {c.at for c in made} == {T0}
    assert len({c.change_id for c in made}) == 2


def test_a_change_is_compared_with_the_rules_in_force_not_the_file() -> None:
    in_force = changes.effective(FILE, {"asa-slow": change("asa-slow", threshold=45,
                                 window_minutes=15, severity="warning")})  # fmt: skip
    submitted = in_file()
    submitted["asa-slow"]["threshold"] = 45
    assert changes.changes(in_force.config, FILE, submitted, by="ops", now=T0) == []
    back = changes.changes(in_force.config, FILE, in_file(), by="ops", now=T0)
    assert [(c.rule_id, c.threshold) for c in back] == [("asa-slow", 30.0)]


def test_only_what_was_edited_on_the_page_is_recorded_not_what_it_merely_showed() -> None:
    """A page opened before someone else's change still shows the old values; applying an
    edit of another rule must not put the old values back."""
    shown = in_file()
    theirs = change("asa-slow", threshold=45, window_minutes=15, severity="warning")
    in_force = changes.effective(FILE, {"asa-slow": theirs})
    submitted = in_file()
    submitted["queue-long"]["threshold"] = 80
    edited = changes.edited(submitted, shown)
    assert set(edited) == {"queue-long"}
    made = changes.changes(in_force.config, FILE, edited, by="ops", now=T0)
    assert [(c.rule_id, c.threshold) for c in made] == [("queue-long", 80.0)]
    assert set(changes.edited(submitted, None)) == set(submitted)


def test_a_bad_value_makes_no_event_and_says_which() -> None:
    submitted = in_file()
    submitted["abandonment-high"]["threshold"] = 7
    with pytest.raises(AlertConfigError, match="share from 0 to 1"):
        changes.changes(FILE, FILE, submitted, by="ops", now=T0)


def test_the_newest_change_lays_over_the_file_and_a_reset_takes_it_off() -> None:
    later = T0 + timedelta(minutes=1)
    in_force = changes.effective(
        FILE,
        {
            "service-level-low": change("service-level-low", later, threshold=0.95,
                                        window_minutes=5, severity="critical"),
            "asa-slow": change("asa-slow", later, reset=True),
            ANSWER_WITHIN: change(ANSWER_WITHIN, later, threshold=10),
        },
    )  # fmt: skip
    rules = {r.id: r for r in in_force.config.rules}
    assert (rules["service-level-low"].threshold, rules["service-level-low"].window_minutes,
            rules["service-level-low"].severity) == (0.95, 5, "critical")  # fmt: skip
    assert rules["asa-slow"] == {r.id: r for r in FILE.rules}["asa-slow"]
    assert in_force.config.service_level.answer_within_s == 10
    assert set(in_force.changed) == {"service-level-low", ANSWER_WITHIN}
    assert in_force.set_aside == {}


def test_a_change_that_no_longer_fits_the_file_is_set_aside_with_the_reason() -> None:
    in_force = changes.effective(
        FILE,
        {
            "removed-rule": change("removed-rule", threshold=1, window_minutes=5,
                                   severity="info"),
            # the file made queue-long a "now" reading: a window no longer fits it
            "queue-long": change("queue-long", threshold=20, window_minutes=5,
                                 severity="critical"),
        },
    )  # fmt: skip
    assert in_force.config == FILE
    assert in_force.changed == {}
    assert "unknown rule 'removed-rule'" in in_force.set_aside["removed-rule"]
    assert "remove window_minutes" in in_force.set_aside["queue-long"]


def test_resets_name_every_changed_rule() -> None:
    made = changes.resets(["asa-slow", ANSWER_WITHIN], by="lead", now=T0)
    assert [(c.rule_id, c.reset, c.changed_by) for c in made] == [
        ("asa-slow", True, "lead"),
        (ANSWER_WITHIN, True, "lead"),
    ]


# --- on the real broker, sink and ClickHouse -------------------------------------------------


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f} s")
        time.sleep(0.2)


def alerts(consumer: KafkaConsumer, seconds: float, until: int | None = None) -> list[AlertEvent]:
    """What the evaluator records within ``seconds``, or as soon as there are ``until``."""
    seen: list[AlertEvent] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (until is None or len(seen) < until):
        for records in consumer.poll(timeout_ms=200).values():
            seen += [msgspec.json.decode(r.value, type=AlertEvent) for r in records]
    return seen


def in_force_now(settings: Settings) -> changes.Effective:
    with db.client(settings) as client:
        return changes.effective(FILE, changes.latest(client, settings.clickhouse_database))


def test_changes_reach_clickhouse_through_the_sink_and_the_newest_wins(
    migrated: Settings, topics: Topics, start_service: StartService
) -> None:
    assert "0007_alert_rule_changes" in migrations.available()
    assert routes(migrated)[migrated.topic_alert_rules] is alert_rule_changes.TABLE
    start_service("sink", "sinks", migrated)
    now = datetime.now(UTC).replace(microsecond=0)

    submitted = in_file()
    submitted["asa-slow"] = {"threshold": 45, "window_minutes": 10, "severity": "critical"}
    changes.record(migrated, changes.changes(FILE, FILE, submitted, by="ops", now=now))
    wait_until(lambda: "asa-slow" in in_force_now(migrated).changed, "the change not in force")

    submitted["asa-slow"]["threshold"] = 60
    later = now + timedelta(seconds=1)
    in_force = in_force_now(migrated)
    changes.record(migrated, changes.changes(in_force.config, FILE, submitted, by="lead",
                                             now=later))  # fmt: skip
    wait_until(
        lambda: in_force_now(migrated).changed["asa-slow"].changed_by == "lead",
        "the newer change not in force",
    )
    in_force = in_force_now(migrated)
    asa = {r.id: r for r in in_force.config.rules}["asa-slow"]
    assert (asa.threshold, asa.window_minutes, asa.severity) == (60, 10, "critical")
    assert in_force.changed["asa-slow"].at == later

    changes.record(migrated, changes.resets(in_force.changed, by="lead", now=later))
    wait_until(lambda: not in_force_now(migrated).changed, "the reset not in force")
    assert in_force_now(migrated).config == FILE


def test_the_evaluator_alerts_by_a_threshold_changed_on_the_page(
    migrated: Settings, topics: Topics, start_service: StartService, tmp_path: Path
) -> None:
    """Service level 90%: no alert by the file's 80%, an alert once 95% is in force."""
    rules = tmp_path / "queue.toml"
    rules.write_text(
        "[[rules]]\nid = 'sl'\nkind = 'service_level_below'\nthreshold = 0.8\n"
        "window_minutes = 15\nseverity = 'warning'\n"
    )
    live = migrated.model_copy(update={"alert_rules_file": rules, "alert_evaluate_seconds": 0.5})
    now = datetime.now(UTC)
    calls = [Call("yiyang", now - timedelta(minutes=5), "answered", wait_s=1.0) for _ in range(9)]
    insert_calls(live, [*calls, Call("yiyang", now - timedelta(minutes=5), "answered", wait_s=90)])
    start_service("sink", "sinks", live)
    start_service("alerts", "dashboards.alerts", live)
    consumer = KafkaConsumer(
        live.topic_alerts, bootstrap_servers=live.kafka_bootstrap, auto_offset_reset="earliest"
    )
    try:
        assert alerts(consumer, 3.0) == []  # six rounds: 90% is no alert by the file's 80%
        file = load(rules)
        stricter = changes.changes(
            file, file, {"sl": {"threshold": 0.95, "window_minutes": 15, "severity": "critical"}},
            by="ops", now=now,
        )  # fmt: skip
        changes.record(live, stricter)
        [opened] = alerts(consumer, 30.0, until=1)
    finally:
        consumer.close()
    assert (opened.event_type, opened.rule_id, opened.threshold, opened.severity) == (
        "alert.opened", "sl", 0.95, "critical",
    )  # fmt: skip
    assert opened.value == pytest.approx(0.9)
