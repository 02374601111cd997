"""Alert rules changed on the queue page: events on ``alerts.rules``, the newest per rule wins.

The rules file holds what ops agreed on; the page lets ops change a rule's threshold, window
and severity, or the service level's answer time, for everyone at once and without a deploy.
A change is an event (:class:`RuleChange`, keyed by rule, with who made it), acknowledged by
the broker before the page says it is recorded; the sink projects the topic into
``alert_rule_changes``. The page and the evaluator both read each rule's newest change from
there and lay it over the file (:func:`effective`), so what the page shows is what the
recorded alerts and the webhook follow.

A change holds until it is reset on the page, even if the file is edited later; the page shows
which rules are changed, by whom and when. A change that no longer fits the file (its rule was
removed, or an edit made it invalid, say a new kind) is set aside with the reason, and the
file's rule applies.
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from clickhouse_driver import Client

from channelhub.ingest.producer import Producer
from dashboards.alerts.rules import ANSWER_WITHIN, AlertConfig, AlertConfigError
from kernel.settings import Settings
from schemas.alerts import RuleChange
from sinks.tables import alert_rule_changes


def change_fields(change: RuleChange) -> dict[str, object]:
    """What ``change`` sets, as :meth:`AlertConfig.overridden` takes it for its rule."""
    if change.rule_id == ANSWER_WITHIN:
        return {"threshold": change.threshold}
    return {
        "threshold": change.threshold,
        "window_minutes": change.window_minutes,
        "severity": change.severity,
    }


@dataclass(frozen=True)
class Effective:
    """The rules in force: the file with the changes that fit it; changes set aside, why."""

    config: AlertConfig
    changed: dict[str, RuleChange]
    set_aside: dict[str, str]


def effective(config: AlertConfig, latest: Mapping[str, RuleChange]) -> Effective:
    """``config`` (the file) with each rule's newest change that still fits it."""
    changed: dict[str, RuleChange] = {}
    set_aside: dict[str, str] = {}
    for rule_id, change in sorted(latest.items()):
        if change.reset:
            continue
        try:
            config = config.overridden({rule_id: change_fields(change)})
        except AlertConfigError as e:
            set_aside[rule_id] = str(e)
            continue
        changed[rule_id] = change
    return Effective(config, changed, set_aside)


def in_force(client: Client, database: str, file: AlertConfig) -> Effective:
    """The rules in force now: ``file`` with the newest recorded changes that fit it."""
    return effective(file, latest(client, database))


def latest(client: Client, database: str) -> dict[str, RuleChange]:
    """Each rule's newest change (or reset) as the sink recorded it."""
    rows = client.execute(alert_rule_changes.LATEST.format(db=database))
    return {
        rule_id: RuleChange(
            change_id=change_id,
            rule_id=rule_id,
            at=at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC),
            changed_by=changed_by,
            reset=bool(reset),
            threshold=threshold,
            window_minutes=window_minutes,
            severity=severity,
        )
        for rule_id, change_id, at, changed_by, reset, threshold, window_minutes, severity in rows
    }


def changes(
    current: AlertConfig,
    file: AlertConfig,
    edited: Mapping[str, Mapping[str, object]],
    *,
    by: str,
    now: datetime,
) -> list[RuleChange]:
    """The events that set the ``edited`` rules (validated against the ``file`` like its own,
    :class:`AlertConfigError` naming the field otherwise): one per rule whose values differ
    from ``current``, none for the rest. Only rules a person edited are passed, so a page
    opened before someone else's change does not undo it."""
    wanted = file.overridden(edited)
    before = values(current)
    return [
        _change(rule_id, rule_values, by=by, now=now)
        for rule_id, rule_values in values(wanted).items()
        if rule_id in edited and rule_values != before.get(rule_id)
    ]


def edited(
    submitted: Mapping[str, Mapping[str, object]], shown: Mapping[str, object] | None
) -> dict[str, Mapping[str, object]]:
    """The rules whose submitted values differ from those the page showed (all of them when
    it showed none): what the person changed, and nothing they merely saw."""
    before = shown or {}
    return {rule: fields for rule, fields in submitted.items() if before.get(rule) != fields}


def resets(rule_ids: Iterable[str], *, by: str, now: datetime) -> list[RuleChange]:
    """Events that put ``rule_ids`` back to the file's values."""
    return [
        RuleChange(change_id=str(uuid.uuid4()), rule_id=r, at=now, changed_by=by, reset=True)
        for r in rule_ids
    ]


def record(settings: Settings, events: list[RuleChange]) -> None:
    """Produce ``events`` keyed by rule and wait for the broker's acknowledgement; a
    :class:`~channelhub.ingest.producer.DeliveryError` means none may be taken as recorded."""
    with Producer(
        settings.kafka_bootstrap, settings.topic_alert_rules, client_id="channelhub-alert-rules"
    ) as producer:
        for event in events:
            producer.send(event.rule_id.encode(), msgspec.json.encode(event))


def values(config: AlertConfig) -> dict[str, dict[str, object]]:
    """Every rule's editable values (and the answer time), as the page submits them."""
    found: dict[str, dict[str, object]] = {
        rule.id: {
            "threshold": rule.threshold,
            "window_minutes": rule.window_minutes,
            "severity": rule.severity,
        }
        for rule in config.rules
    }
    found[ANSWER_WITHIN] = {"threshold": config.service_level.answer_within_s}
    return found


def _change(rule_id: str, values: Mapping[str, object], *, by: str, now: datetime) -> RuleChange:
    threshold = values["threshold"]
    window = values.get("window_minutes")
    severity = values.get("severity")
    return RuleChange(
        change_id=str(uuid.uuid4()),
        rule_id=rule_id,
        at=now,
        changed_by=by,
        threshold=float(threshold) if isinstance(threshold, int | float) else None,
        window_minutes=window if isinstance(window, int) else None,
        severity=severity if isinstance(severity, str) else None,
    )
