"""The alert evaluator process: every few seconds, measure, evaluate, record.

Exactly one runs (``channelhub up`` starts one, ``python -m dashboards.alerts``), so each
transition is recorded and sent to the webhook once, however many people have the queue page
open. The page evaluates the same rules for display only and records nothing.

Each round takes the rules file (re-read, so an edit applies without a restart) with the
changes made on the queue page laid over it (:mod:`dashboards.alerts.changes`).

Open alerts survive a restart through ``alert_events``: on start the evaluator reads each
rule's newest transition. A transition produced but not yet written by the sink when the
evaluator stopped is not seen; then the alert is opened (or cleared) a second time, under a
new alert id, which costs one extra record and no missed alert.
"""

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_driver import Client

from channelhub.ingest.producer import DeliveryError, Producer
from dashboards import db
from dashboards.alerts import changes, measure
from dashboards.alerts.evaluate import OpenAlert, evaluate
from dashboards.alerts.record import Recorder
from dashboards.alerts.rules import AlertConfig, AlertConfigError, load, rules_file
from kernel.errors import StorageError
from kernel.settings import Settings
from sinks.tables import alert_events

log = logging.getLogger(__name__)


def recorded_open(client: Client, database: str) -> dict[str, OpenAlert]:
    """The alerts whose newest recorded transition is ``alert.opened``, by rule id."""
    rows = client.execute(alert_events.LATEST.format(db=database))
    return {
        rule_id: OpenAlert(alert_id, rule_id, at.replace(tzinfo=UTC))
        for rule_id, event_type, alert_id, at in rows
        if event_type == "alert.opened"
    }


def restore(settings: Settings) -> dict[str, OpenAlert]:
    with db.client(settings) as client:
        return recorded_open(client, settings.clickhouse_database)


def run(settings: Settings, stop: threading.Event) -> None:
    """Evaluate every ``alert_evaluate_seconds`` until ``stop`` is set."""
    path = rules_file(settings)
    config = load(path)  # a broken file at start is fatal: there is nothing to fall back to
    open_alerts = restore(settings)
    log.info("evaluating %d rules from %s; %d open", len(config.rules), path, len(open_alerts))
    with Producer(settings.kafka_bootstrap, settings.topic_alerts, client_id="alerts") as out:
        recorder = Recorder(
            out,
            webhook_url=settings.alert_webhook_url,
            webhook_timeout=settings.alert_webhook_timeout_seconds,
        )
        set_aside: dict[str, str] = {}
        while not stop.wait(settings.alert_evaluate_seconds):
            config = reload(path, config)
            now = datetime.now(UTC).replace(microsecond=0)
            try:
                with db.client(settings) as client:
                    rules = changes.in_force(client, settings.clickhouse_database, config)
                    judged = rules.config.service_level.rules
                    values = measure.readings(client, rules.config.rules, now, judged)
            except StorageError as e:
                log.warning("cannot measure the queue: %s", e)
                continue
            if rules.set_aside != set_aside:
                for rule_id, why in rules.set_aside.items():
                    log.error("change to %s set aside, the file's rule applies: %s", rule_id, why)
                set_aside = rules.set_aside
            result = evaluate(rules.config.rules, values, open_alerts, now)
            try:
                recorder.record(result.events)
            except DeliveryError as e:
                log.warning("alerts not recorded, trying again next round: %s", e)
                continue
            open_alerts = result.open


def reload(path: Path, previous: AlertConfig) -> AlertConfig:
    """The file's rules now, or the previous ones (logged) if it no longer validates."""
    try:
        return load(path)
    except AlertConfigError as e:
        log.error("%s; keeping the previous rules", e)
        return previous
