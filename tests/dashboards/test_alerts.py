"""Alert rules, the pure evaluator (table-driven), and the record path: topic, sink, webhook."""

import dataclasses
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import msgspec
import pytest
from kafka import KafkaConsumer

from channelhub.ingest.producer import Producer
from dashboards import db
from dashboards.alerts import measure
from dashboards.alerts.evaluate import OpenAlert, evaluate
from dashboards.alerts.record import Recorder
from dashboards.alerts.rules import (
    DEFAULT_FILE,
    AlertConfigError,
    Rule,
    load,
)
from dashboards.alerts.service import reload, restore
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from schemas.alerts import AlertEvent
from sinks import migrations
from sinks.client import connect
from sinks.routes import routes
from sinks.tables import alert_events
from tests.dashboards.queue_data import Call, insert_calls
from tests.dashboards.test_filters import HOSTILE
from tests.fixtures.services import StartService, Topics, free_port

T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
SL = Rule(id="sl", kind="service_level_below", threshold=0.8, window_minutes=15)
ABANDON = Rule(id="ab", kind="abandonment_above", threshold=0.1, window_minutes=5)
WAITING = Rule(id="wq", kind="waiting_above", threshold=50, severity="critical")


def run(rounds: list[dict[str, float | None]], rules: tuple[Rule, ...]) -> list[list[str]]:
    """Feed one readings dict per round; return each round's transitions as ``type:rule``."""
    open_alerts: dict[str, OpenAlert] = {}
    said = []
    for n, readings in enumerate(rounds):
        result = evaluate(rules, readings, open_alerts, T0 + timedelta(seconds=5 * n))
        open_alerts = result.open
        said.append([f"{e.event_type.removeprefix('alert.')}:{e.rule_id}" for e in result.events])
    return said


@pytest.mark.parametrize(
    ("rounds", "expected"),
    [
        ([{"sl": 0.9}, {"sl": 0.8}], [[], []]),  # the threshold itself is not below it
        ([{"sl": 0.79}, {"sl": 0.5}, {"sl": 0.81}], [["opened:sl"], [], ["cleared:sl"]]),
        ([{"sl": 0.5}, {"sl": None}], [["opened:sl"], ["cleared:sl"]]),  # no calls, no alert
        ([{}, {"sl": 0.1}], [[], ["opened:sl"]]),
        ([{"ab": 0.1}, {"ab": 0.11}, {"ab": 0.11}], [[], ["opened:ab"], []]),
        ([{"wq": 50}, {"wq": 51}, {"wq": 3}], [[], ["opened:wq"], ["cleared:wq"]]),
        (
            [{"sl": 0.1, "ab": 0.5, "wq": 60}, {"sl": 0.9, "ab": 0.5, "wq": 60}],
            [["opened:sl", "opened:ab", "opened:wq"], ["cleared:sl"]],
        ),
        ([{"sl": 0.1}, {"sl": 0.9}, {"sl": 0.1}], [["opened:sl"], ["cleared:sl"], ["opened:sl"]]),
    ],
)
def test_alerts_open_once_and_clear_when_the_condition_clears(
    rounds: list[dict[str, float | None]], expected: list[list[str]]
) -> None:
    assert run(rounds, (SL, ABANDON, WAITING)) == expected


def test_a_reopened_alert_is_a_new_alert_and_ids_are_stable() -> None:
    first = evaluate((SL,), {"sl": 0.5}, {}, T0)
    again = evaluate((SL,), {"sl": 0.5}, {}, T0)
    assert first.events == again.events  # a redone round produces the same records
    cleared = evaluate((SL,), {"sl": 0.9}, first.open, T0 + timedelta(minutes=1))
    reopened = evaluate((SL,), {"sl": 0.5}, cleared.open, T0 + timedelta(minutes=2))
    [opened], [gone], [back] = first.events, cleared.events, reopened.events
    assert opened.alert_id == gone.alert_id != back.alert_id
    assert len({opened.event_id, gone.event_id, back.event_id}) == 3
    assert opened.message == "Service level < 80.0% over 15 min: 50.0%"
    assert (gone.value, gone.at) == (0.9, T0 + timedelta(minutes=1))


def test_removing_a_rule_clears_its_alert() -> None:
    opened = evaluate((SL, WAITING), {"sl": 0.1, "wq": 99}, {}, T0)
    result = evaluate((WAITING,), {"wq": 99}, opened.open, T0 + timedelta(seconds=5))
    assert [(e.event_type, e.rule_id) for e in result.events] == [("alert.cleared", "sl")]
    assert set(result.open) == {"wq"}


def test_the_shipped_rules_load() -> None:
    config = load(DEFAULT_FILE)
    assert {r.kind for r in config.rules} == {
        "service_level_below", "abandonment_above", "asa_above", "waiting_above",
    }  # fmt: skip
    assert (config.service_level.answer_within_s, config.service_level.target) == (20, 0.8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rules]]\nid='x'\nkind='service_level_below'\nthreshold=80\nwindow_minutes=5",
         "share from 0 to 1"),
        ("[[rules]]\nid='x'\nkind='waiting_above'\nthreshold=8\nwindow_minutes=5",
         "remove window_minutes"),
        ("[[rules]]\nid='x'\nkind='asa_above'\nthreshold=8", "needs window_minutes"),
        ("[[rules]]\nid='x'\nkind='queue_on_fire'\nthreshold=8", "rules.0.kind"),
        ("[[rules]]\nid='x'\nkind='asa_above'\nthreshold=8\nwindow_minutes=5\n"
         "[[rules]]\nid='x'\nkind='asa_above'\nthreshold=9\nwindow_minutes=5", "unique"),
        ("rules = [", "cannot read"),
    ],
)  # fmt: skip
def test_a_bad_rules_file_says_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "queue.toml"
    path.write_text(text)
    with pytest.raises(AlertConfigError, match=message) as raised:
        load(path)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize("value", [*HOSTILE, -1, 0, 601, None, "1e999", "nan", [0.5]])
def test_values_typed_on_the_page_are_validated_like_the_file(value: object) -> None:
    config = load(DEFAULT_FILE)
    with pytest.raises(AlertConfigError):
        config.overridden({"service-level-low": {"threshold": value if value != 0 else 2}})
    with pytest.raises(AlertConfigError):
        config.overridden({"answer_within_s": {"threshold": value}})
    with pytest.raises(AlertConfigError):
        config.overridden({"asa-slow": {"window_minutes": value if value != 0 else 241}})
    with pytest.raises(AlertConfigError):
        config.overridden({"asa-slow": {"severity": value}})


def test_page_overrides_change_only_what_they_name() -> None:
    config = load(DEFAULT_FILE)
    changed = config.overridden(
        {
            "service-level-low": {"threshold": "0.95", "window_minutes": 5, "severity": "critical"},
            "answer_within_s": {"threshold": 10},
        }
    )
    by_id = {r.id: r for r in changed.rules}
    assert by_id["service-level-low"].threshold == 0.95
    assert by_id["service-level-low"].window_minutes == 5
    assert by_id["service-level-low"].severity == "critical"
    assert changed.service_level.answer_within_s == 10
    assert {r.id: r for r in config.rules}["abandonment-high"] == by_id["abandonment-high"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"'; DROP TABLE events; --": {"threshold": 1}}, "unknown rule \"'; DROP"),
        ({"asa-slow": {"kind": "waiting_above"}}, "'kind' cannot be changed"),
        ({"asa-slow": 30}, "unreadable"),
        ({"asa-slow": {"threshold": ""}}, "enter a threshold"),
        ({"answer_within_s": {}}, "enter a threshold"),
        ({"queue-long": {"window_minutes": 5}}, "remove window_minutes"),
        ({"asa-slow": {"window_minutes": None}}, "needs window_minutes"),
    ],
)
def test_a_change_outside_what_the_page_may_change_is_refused_by_name(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(AlertConfigError, match=message):
        load(DEFAULT_FILE).overridden(overrides)  # type: ignore[arg-type]


# --- against the real services --------------------------------------------------------------


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: pytest shows what matters."""


@pytest.fixture
def webhook() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", free_port()), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Hook.received = []
    yield f"http://127.0.0.1:{server.server_port}/alerts"
    server.shutdown()
    server.server_close()


def test_measured_readings_follow_the_queue(migrated: Settings) -> None:
    now = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
    calls = [
        *(Call("loudi", now - timedelta(minutes=10), "answered", wait_s=30.0) for _ in range(3)),
        Call("loudi", now - timedelta(minutes=10), "answered", wait_s=10.0, talk_s=5),
        Call("loudi", now - timedelta(minutes=3), "abandoned", wait_s=40.0),
        Call("loudi", now - timedelta(minutes=3), "abandoned", wait_s=1.0),  # short: not counted
        *(Call("loudi", now - timedelta(minutes=1), "waiting") for _ in range(4)),
    ]  # fmt: skip
    insert_calls(migrated, calls)
    config = load(DEFAULT_FILE)
    with db.client(migrated) as client:
        values = measure.readings(client, config.rules, now, config.service_level.rules)
    assert values == {
        "service-level-low": pytest.approx(1 / 5),
        "abandonment-high": pytest.approx(1 / 5),
        "asa-slow": pytest.approx(100 / 4),
        "queue-long": 4.0,
    }


def test_transitions_go_to_the_topic_the_sink_table_and_the_webhook(
    migrated: Settings, topics: Topics, webhook: str
) -> None:
    assert routes(migrated)[migrated.topic_alerts] is alert_events.TABLE
    opened = evaluate((SL, WAITING), {"sl": 0.5, "wq": 80}, {}, T0)
    # Cleared within the same second: the restore must still see it as the newest.
    cleared = evaluate((SL, WAITING), {"sl": 0.9, "wq": 80}, opened.open, T0)
    events = [*opened.events, *cleared.events]
    with Producer(migrated.kafka_bootstrap, migrated.topic_alerts) as producer:
        recorder = Recorder(producer, webhook_url=webhook, webhook_timeout=2)
        recorder.record(opened.events)
        recorder.record(cleared.events)

    assert [h["event_id"] for h in Hook.received] == [e.event_id for e in events]
    consumer = KafkaConsumer(
        migrated.topic_alerts,
        bootstrap_servers=migrated.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    messages = []
    for message in consumer:
        messages.append(message)
        if len(messages) == len(events):
            break
    consumer.close()
    decoded = [msgspec.json.decode(m.value, type=AlertEvent) for m in messages]
    assert sorted(decoded, key=lambda e: e.event_id) == sorted(events, key=lambda e: e.event_id)

    # What the sink does with each message, then what a restarted evaluator reads back.
    rows = [
        alert_events.TABLE.row(e, partition=m.partition, offset=m.offset,
                               ingested_at=T0, pseudonymize=Pseudonymizer(b"k"))[1]
        for m, e in zip(messages, decoded, strict=True)
    ]  # fmt: skip
    with db.client(migrated) as client:
        assert client.execute(f"SELECT count() FROM {alert_events.NAME}") == [(0,)]
    writer = connect(migrated)
    writer.execute(alert_events.TABLE.insert.format(db=migrated.clickhouse_database), rows)
    writer.disconnect()
    still_open = restore(migrated)
    assert set(still_open) == {"wq"}
    assert still_open["wq"] == opened.open["wq"]


def test_a_webhook_that_is_down_is_logged_not_fatal(
    migrated: Settings, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/alerts"
    events = evaluate((SL,), {"sl": 0.1}, {}, T0).events
    with Producer(migrated.kafka_bootstrap, migrated.topic_alerts) as producer:
        Recorder(producer, webhook_url=dead, webhook_timeout=1).record(events)
    assert "alert webhook failed for alert.opened sl@" in caplog.text


def test_the_migration_creates_the_table(migrated: Settings) -> None:
    assert "0006_alerts" in migrations.available()
    with db.client(migrated) as client:
        assert client.execute(alert_events.LATEST.format(db=migrated.clickhouse_database)) == []


def test_the_evaluator_process_opens_and_clears_alerts_on_the_topic(
    migrated: Settings, topics: Topics, start_service: StartService, tmp_path: Path
) -> None:
    """``python -m dashboards.alerts`` against the live clock: overload, then recovery."""
    rules = tmp_path / "queue.toml"
    rules.write_text(
        "[[rules]]\nid = 'sl'\nkind = 'service_level_below'\nthreshold = 0.8\n"
        "window_minutes = 15\nseverity = 'warning'\n"
    )
    live = migrated.model_copy(update={"alert_rules_file": rules, "alert_evaluate_seconds": 0.5})
    now = datetime.now(UTC)
    insert_calls(live, [Call("yiyang", now - timedelta(minutes=5), "answered", wait_s=90.0)])
    consumer = KafkaConsumer(
        live.topic_alerts,
        bootstrap_servers=live.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )
    start_service("alerts", "dashboards.alerts", live)
    try:
        seen: list[AlertEvent] = []
        for message in consumer:
            seen.append(msgspec.json.decode(message.value, type=AlertEvent))
            if len(seen) == 1:  # opened: now the queue recovers
                fast = Call("yiyang", now - timedelta(minutes=4), "answered", wait_s=1.0)
                insert_calls(live, [dataclasses.replace(fast, session=f"s{i}") for i in range(9)])
            if len(seen) == 2:
                break
    finally:
        consumer.close()
    assert [(e.event_type, e.rule_id, e.value) for e in seen] == [
        ("alert.opened", "sl", 0.0),
        ("alert.cleared", "sl", pytest.approx(0.9)),
    ]
    assert seen[0].alert_id == seen[1].alert_id


def test_a_rules_file_broken_while_running_keeps_the_previous_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "queue.toml"
    path.write_text(DEFAULT_FILE.read_text().replace("threshold = 0.8", "threshold = 0.7"))
    running = load(DEFAULT_FILE)
    edited = reload(path, running)
    assert {r.id: r.threshold for r in edited.rules}["service-level-low"] == 0.7
    path.write_text("[[rules]]\nid = 'x'\n")
    assert reload(path, edited) is edited
    assert "keeping the previous rules" in caplog.text
