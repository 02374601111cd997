"""Alert rules (ops): change the queue alerts' thresholds, windows and severities for everyone.

The rules in force are the file's (``dashboards/alerts/config/queue.toml``) with the changes
ops made here laid over them (:mod:`dashboards.alerts.changes`): Apply records a change event
per rule that differs from what the page showed, as the signed-in user, and Reset puts every
rule back to the file. The change applies to the queue monitor (:mod:`dashboards.pages.queue`,
which shows each rule's reading and who set it), to the recorded alerts and to the webhook of
``python -m dashboards.alerts``. Ids are prefixed ``queue-``, as the monitor's: tests read
``queue-apply``, ``queue-rules-status`` and the pattern-matching ``queue-threshold`` inputs.
"""

import logging
from datetime import UTC, datetime
from typing import Any, get_args

import dash
from dash import ALL, Input, Output, State, dcc, html

from dashboards import auth, db
from dashboards.alerts import changes
from dashboards.alerts.rules import (
    ANSWER_WITHIN,
    AlertConfigError,
    Rule,
    Severity,
    load,
    rules_file,
)
from dashboards.refresh import ERROR, storage_message
from dashboards.roles import Role, callback
from kernel.errors import ChannelhubError, StorageError

ALLOWED: tuple[Role, ...] = ("ops",)

dash.register_page(
    __name__,
    path="/queue/alert-rules",
    name="Alert rules",
    title="Queue alert rules · channelhub",
    roles=ALLOWED,
)

log = logging.getLogger(__name__)

MONITOR = "/queue"


def layout(**_query: str) -> html.Div:
    """The form; :func:`rule_inputs` fills it with the rules in force."""
    return html.Div(
        className="queue",
        children=[
            html.Div(className="page-title", children=[html.H1("Queue alert rules")]),
            html.Div(id="queue-rules-loaded", className="status"),
            html.Section(
                className="card",
                children=[
                    html.P(
                        [
                            "The rules file's values, or a change made here. A change applies "
                            "to everyone and to the recorded alerts and webhook, and stays "
                            "until it is reset. Each rule's reading, and who set it, are on "
                            "the ",
                            dcc.Link("queue monitor", href=f"{MONITOR}#queue-rules-card"),
                            ".",
                        ],
                        className="card-note",
                    ),
                    html.Div(
                        className="rule-input",
                        children=[
                            html.Span("service level", className="rule-id"),
                            html.Label(
                                [
                                    "Answered within (s)",
                                    dcc.Input(
                                        id="queue-answer-within",
                                        type="number",
                                        min=1,
                                        max=600,
                                        step=1,
                                    ),
                                ]
                            ),
                        ],
                    ),
                    html.Div(id="queue-rule-inputs", className="rule-inputs"),
                    html.Div(
                        className="rule-actions",
                        children=[
                            html.Button("Apply for everyone", id="queue-apply"),
                            html.Button("Reset every rule to the file", id="queue-reset"),
                        ],
                    ),
                    html.Div(id="queue-rules-status", className="status"),
                ],
            ),
            dcc.Store(id="queue-rules-recorded"),
            dcc.Store(id="queue-rules-shown"),
        ],
    )


@callback(
    Output("queue-rule-inputs", "children"),
    Output("queue-answer-within", "value"),
    Output("queue-rules-shown", "data"),
    Output("queue-rules-loaded", "children"),
    Output("queue-rules-loaded", "className"),
    Input("queue-rules-recorded", "data"),
    roles=ALLOWED,
)
def rule_inputs(recorded: dict[str, Any] | None) -> tuple[Any, ...]:
    """A row of inputs per rule holding the values in force: read on load, and after Apply or
    Reset the ones just recorded (the sink may not have written them yet). What was shown is
    kept, so Apply records only what the person changed."""
    try:
        settings = db.request_settings()
        file = load(rules_file(settings))
        if recorded is None:
            with db.client(settings) as client:
                config = changes.in_force(client, settings.clickhouse_database, file).config
        else:
            config = file.overridden(recorded)
    except AlertConfigError as e:
        return [], None, None, f"Cannot show the rules: {e}", ERROR
    except StorageError as e:
        log.warning("alert rules page: %s", e)
        return [], None, None, storage_message(e), ERROR
    inputs = [_rule_input(rule) for rule in config.rules]
    return inputs, config.service_level.answer_within_s, changes.values(config), "", "status"


def _rule_input(rule: Rule) -> html.Div:
    def key(kind: str) -> dict[str, str]:
        return {"type": kind, "rule": rule.id}

    return html.Div(
        className="rule-input",
        children=[
            html.Span(rule.id, className="rule-id"),
            html.Label(
                [
                    "Threshold",
                    dcc.Input(
                        id=key("queue-threshold"),
                        type="number",
                        value=rule.threshold,
                        min=0,
                        step="any",
                    ),
                ]
            ),
            html.Label(
                [
                    "Window (min)",
                    dcc.Input(
                        id=key("queue-window"),
                        type="number",
                        value=rule.window_minutes,
                        min=1,
                        max=240,
                        step=1,
                        disabled=rule.window_minutes is None,
                        placeholder="now",
                    ),
                ]
            ),
            html.Label(
                [
                    "Severity",
                    dcc.RadioItems(
                        id=key("queue-severity"),
                        options=list(get_args(Severity)),
                        value=rule.severity,
                        inline=True,
                        className="segmented",
                    ),
                ]
            ),
        ],
    )


@callback(
    Output("queue-rules-recorded", "data"),
    Output("queue-rules-status", "children"),
    Output("queue-rules-status", "className"),
    Input("queue-apply", "n_clicks"),
    Input("queue-reset", "n_clicks"),
    State({"type": "queue-threshold", "rule": ALL}, "value"),
    State({"type": "queue-threshold", "rule": ALL}, "id"),
    State({"type": "queue-window", "rule": ALL}, "value"),
    State({"type": "queue-window", "rule": ALL}, "id"),
    State({"type": "queue-severity", "rule": ALL}, "value"),
    State({"type": "queue-severity", "rule": ALL}, "id"),
    State("queue-answer-within", "value"),
    State("queue-rules-shown", "data"),
    prevent_initial_call=True,
    roles=ALLOWED,
)
def apply_rules(
    _apply: int | None,
    _reset: int | None,
    thresholds: list[Any],
    threshold_ids: list[Any],
    windows: list[Any],
    window_ids: list[Any],
    severities: list[Any],
    severity_ids: list[Any],
    answer_within: Any,
    shown: Any,
) -> tuple[Any, str, str]:
    """Record the rules edited since they were shown (one event per rule), or reset them all,
    as the signed-in user; a bad value is refused by name and nothing is recorded."""
    settings = db.request_settings()
    by = auth.current_user() or "dashboard"
    now = datetime.now(UTC)
    try:
        file = load(rules_file(settings))
        with db.client(settings) as client:
            in_force = changes.in_force(client, settings.clickhouse_database, file)
        if dash.ctx.triggered_id == "queue-reset":
            events = changes.resets(in_force.changed, by=by, now=now)
            after = file
        else:
            submitted = _submitted(
                zip(threshold_ids, thresholds, strict=False),
                zip(window_ids, windows, strict=False),
                zip(severity_ids, severities, strict=False),
            )
            submitted[ANSWER_WITHIN] = {"threshold": answer_within}
            edited = changes.edited(submitted, shown if isinstance(shown, dict) else None)
            events = changes.changes(in_force.config, file, edited, by=by, now=now)
            after = in_force.config.overridden(edited)
    except (AlertConfigError, StorageError) as e:
        return dash.no_update, f"Not applied: {e}", "status error"
    if not events:
        return dash.no_update, "Nothing to record: the rules in force already say that.", "status"
    try:
        changes.record(settings, events)
    except ChannelhubError as e:
        log.warning("alert rules page: changes not recorded: %s", e)
        return dash.no_update, f"Not recorded: {e}. Is the broker running?", "status error"
    names = ", ".join(e.rule_id for e in events)
    what = "Reset to the file" if events[0].reset else "Recorded"
    return (
        changes.values(after),
        f"{what} for everyone by {by}: {names}. The recorded alerts follow from their next "
        f"round (every {settings.alert_evaluate_seconds:g} s).",
        "status",
    )


def _submitted(*fields: Any) -> dict[str, Any]:
    """``{rule_id: {field: value}}`` from the pattern-matched inputs. A hand-made request may
    send anything as ids; unknown rules and fields are refused by name when validated."""
    names = ("threshold", "window_minutes", "severity")
    submitted: dict[str, Any] = {}
    for name, pairs in zip(names, fields, strict=True):
        for key, value in pairs:
            rule = str(key.get("rule") if isinstance(key, dict) else key)
            submitted.setdefault(rule, {})[name] = value
    return submitted
