"""Queue monitor (ops): the IVR agent queue now, by prefecture and over the last hours.

KPI cards (calls waiting now, service level, average speed of answer, abandonment, wait
percentiles, occupancy) over a recent window, a per-prefecture table, five-minute charts, the
wait predictor's error against the actual waits, and the alert rules in force with their
readings. Every number comes from :mod:`dashboards.queries.queue` and
:mod:`dashboards.queries.wait_predictions`; the definitions are documented there.

Alerts here are for display: the page evaluates the rules in force against the readings it
just took, and records nothing; the one evaluator that records alerts and calls the webhook is
``python -m dashboards.alerts``. The rules in force are the file's
(``dashboards/alerts/config/queue.toml``) with the changes ops made on the alert rules page
(:mod:`dashboards.pages.queue_alert_rules`) laid over them. Ids are prefixed ``queue-``; tests
read ``queue-kpi-<name>``, ``queue-alerts``, ``queue-row-<prefecture>`` and
``queue-rule-<rule>``.
"""

from datetime import datetime, timedelta
from typing import Any, NamedTuple

import dash
import plotly.graph_objects as go
from clickhouse_driver import Client
from dash import Input, Output, dcc, html

from dashboards import charts, db, deep_dive
from dashboards import refresh as page_refresh
from dashboards.alerts import changes, measure
from dashboards.alerts.evaluate import OpenAlert
from dashboards.alerts.rules import (
    ANSWER_WITHIN,
    AlertConfig,
    AlertConfigError,
    Rule,
    load,
    rules_file,
    shown,
)
from dashboards.alerts.service import recorded_open
from dashboards.deep_dive import NOTHING
from dashboards.filters import SHANGHAI
from dashboards.labels import PREFECTURE_LABELS
from dashboards.queries import queue as queries
from dashboards.queries import wait_predictions
from dashboards.queries.queue import Series, Snapshot
from dashboards.roles import Role, callback

ALLOWED: tuple[Role, ...] = ("ops",)

dash.register_page(
    __name__, path="/queue", name="Queue", title="Queue monitor · channelhub", roles=ALLOWED
)


#: Where ops change the rules (:mod:`dashboards.pages.queue_alert_rules`).
EDITOR = "/queue/alert-rules"

CHART_HEIGHT = 300
KPIS = {
    "waiting": "Calls waiting now",
    "service-level": "Service level",
    "asa": "Average speed of answer",
    "abandonment": "Abandonment rate",
    "p50": "Wait p50",
    "p90": "Wait p90",
    "p99": "Wait p99",
    "occupancy": "Agent occupancy",
}
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def layout(**_query: str) -> html.Div:
    """The skeleton; data arrives through :func:`refresh`, never at import or here."""
    refresh_s = db.request_settings().dashboard_refresh_seconds
    return html.Div(
        className="queue",
        children=[
            html.Div(
                className="page-title",
                children=[
                    html.H1("Queue monitor"),
                    html.Span(id="queue-updated", className="page-updated"),
                ],
            ),
            html.Div(id="queue-alerts"),
            _controls(),
            html.Div(id="queue-status", className="status"),
            html.Div(
                [_kpi(key, label) for key, label in KPIS.items()],
                className="kpis",
                style={"gridTemplateColumns": "repeat(4, minmax(0, 1fr))"},
            ),
            html.Section(
                className="card",
                id="queue-prefectures",
                children=[html.H2("By prefecture (caller's)"), html.Div(id="queue-table")],
            ),
            html.Div(
                className="split",
                style={"gridTemplateColumns": "minmax(0, 1fr) minmax(0, 1fr)"},
                children=[
                    html.Section(
                        className="card",
                        children=[
                            html.H2("Service level and abandonment per 5 minutes"),
                            dcc.Graph(id="queue-chart-rates", config=deep_dive.GRAPH_CONFIG),
                        ],
                    ),
                    html.Section(
                        className="card",
                        children=[
                            html.H2("Calls leaving the queue per 5 minutes"),
                            dcc.Graph(id="queue-chart-calls", config=deep_dive.GRAPH_CONFIG),
                        ],
                    ),
                ],
            ),
            html.Section(
                className="card",
                id="queue-predictions-card",
                children=[
                    html.H2("Predicted against actual waits"),
                    html.P(
                        "Each caller's wait as the wait predictor expected it on joining the "
                        "queue (Erlang A on the callers ahead and the agents), against the wait "
                        "of the callers answered in the window. Abandoned callers' waits are "
                        "censored (they would have waited longer): counted, not in the errors.",
                        className="card-note",
                    ),
                    html.Div(id="queue-predictions"),
                ],
            ),
            _rules_card(),
            dcc.Interval(id="queue-interval", interval=int(refresh_s * 1000)),
        ],
    )


def _controls() -> html.Div:
    def segmented(component_id: str, label: str, options: dict[str, str], value: str) -> html.Div:
        return html.Div(
            className="filter",
            children=[
                html.Span(label),
                dcc.RadioItems(
                    id=component_id,
                    options=[{"label": text, "value": key} for key, text in options.items()],
                    value=value,
                    inline=True,
                    className="segmented",
                ),
            ],
        )

    return html.Div(
        className="filters",
        children=[
            segmented(
                "queue-window",
                "KPIs and table over the last",
                {"5": "5 min", "15": "15 min", "60": "1 h"},
                "15",
            ),
            segmented(
                "queue-history",
                "Charts over the last",
                {k: f"{k} h" for k in queries.HISTORY_HOURS},
                "3",
            ),
        ],
    )


def _kpi(key: str, label: str) -> html.Div:
    return html.Div(
        className="kpi",
        style={"borderTopColor": "#0072B2"},
        children=[
            html.Div(label, className="kpi-label"),
            html.Div(NOTHING, id=f"queue-kpi-{key}", className="kpi-value"),
            html.Div(id=f"queue-detail-{key}", className="kpi-detail"),
        ],
    )


def _rules_card() -> html.Section:
    return html.Section(
        className="card",
        id="queue-rules-card",
        children=[
            html.H2("Alert rules"),
            html.P(
                [
                    "The rules in force, each with its reading now: the rules file's values, "
                    "or a change ops made on the ",
                    dcc.Link("alert rules", href=EDITOR),
                    " page for everyone.",
                ],
                className="card-note",
            ),
            html.Div(id="queue-rules"),
        ],
    )


@callback(
    output={
        "kpis": {key: Output(f"queue-kpi-{key}", "children") for key in KPIS},
        "details": {key: Output(f"queue-detail-{key}", "children") for key in KPIS},
        "table": Output("queue-table", "children"),
        "predictions": Output("queue-predictions", "children"),
        "rates": Output("queue-chart-rates", "figure"),
        "calls": Output("queue-chart-calls", "figure"),
        "status": Output("queue-status", "children"),
        "status_class": Output("queue-status", "className"),
        "alerts": Output("queue-alerts", "children"),
        "rules": Output("queue-rules", "children"),
        "updated": Output("queue-updated", "children"),
    },
    inputs={
        "window": Input("queue-window", "value"),
        "history": Input("queue-history", "value"),
        "_tick": Input("queue-interval", "n_intervals"),
    },
    roles=ALLOWED,
)
def refresh(window: Any, history: Any, _tick: int | None) -> dict[str, Any]:
    """Controls and rules → queries → components (see :func:`dashboards.refresh.refresh`)."""
    return page_refresh.refresh(
        "queue",
        lambda _now: _checked(window, history),
        _fetch,
        _view,
        _blank,
        invalid=(ValueError, AlertConfigError),
        controls="controls",
    )


class Checked(NamedTuple):
    """The controls' spans, and the rules file as it reads now."""

    minutes: int
    hours: int
    file: AlertConfig


class Reading(NamedTuple):
    """What one refresh read: the rules in force and the queue measured by them."""

    in_force: changes.Effective
    snapshot: Snapshot
    series: Series
    readings: dict[str, float | None]
    recorded: dict[str, OpenAlert]
    newest: datetime | None
    accuracy: wait_predictions.Accuracy


def _checked(window: Any, history: Any) -> Checked:
    minutes, hours = queries.spans(window, history)
    return Checked(minutes, hours, load(rules_file(db.request_settings())))


def _fetch(client: Client, checked: Checked, now: datetime) -> Reading:
    now = now.replace(microsecond=0)
    database = db.request_settings().clickhouse_database
    in_force = changes.in_force(client, database, checked.file)
    judged = in_force.config.service_level.rules
    return Reading(
        in_force=in_force,
        snapshot=queries.snapshot(client, now, timedelta(minutes=checked.minutes), judged),
        series=queries.series(client, now, checked.hours, judged),
        readings=measure.readings(client, in_force.config.rules, now, judged),
        recorded=recorded_open(client, database),
        newest=queries.newest_call(client, now),
        accuracy=wait_predictions.accuracy(client, now - timedelta(minutes=checked.minutes), now),
    )


def _view(_checked: Checked, reading: Reading, now: datetime) -> dict[str, Any]:
    in_force, snap, series, readings, recorded, newest, accuracy = reading
    config = in_force.config
    overall = snap.overall
    p50, p90, p99 = overall.wait_percentiles or (None, None, None)
    minutes = round((snap.now - snap.start).total_seconds() / 60)
    target = config.service_level
    kpis = {
        "waiting": f"{snap.waiting_total:,} calls",
        "service-level": _percent(overall.service_level),
        "asa": _seconds(overall.asa_s),
        "abandonment": _percent(overall.abandonment_rate),
        "p50": _seconds(p50),
        "p90": _seconds(p90),
        "p99": _seconds(p99),
        "occupancy": _percent(snap.occupancy.ratio),
    }
    details = {
        "waiting": "joined, not yet answered or gone",
        "service-level": (
            f"answered ≤ {target.answer_within_s:g} s · target {target.target:.0%} "
            f"· last {minutes} min"
        ),
        "asa": f"{overall.answered:,} answered · last {minutes} min",
        "abandonment": (
            f"{overall.abandoned:,} abandoned after {target.short_abandon_s:g} s "
            f"· {overall.short_abandoned:,} sooner"
        ),
        "p50": f"{overall.judged + overall.short_abandoned:,} waits ended",
        "p90": "",
        "p99": "",
        "occupancy": f"agents on calls: {snap.occupancy.agents:,} · last {minutes} min",
    }
    quiet = snap.waiting_total == 0 and overall.judged + overall.short_abandoned == 0
    status, status_class = ("", "status")
    if quiet:
        status, status_class = _why_quiet(newest, minutes), "status empty"
    return {
        "kpis": kpis,
        "details": details,
        "table": _table(snap),
        "predictions": _predictions(accuracy, minutes),
        "rates": _rates_chart(series, target.target),
        "calls": _calls_chart(series),
        "status": status,
        "status_class": status_class,
        "alerts": _banner(config.rules, readings),
        "rules": _rules_table(in_force, readings, recorded),
        "updated": _updated(now),
    }


def _why_quiet(newest: datetime | None, minutes: int) -> str:
    if newest is None:
        return (
            "No caller has ever joined the agent queue in this database: "
            "is the simulator or the IVR feed running?"
        )
    return (
        f"No caller joined or left the queue in the last {minutes} minutes; the newest joined "
        f"{_local(newest):%Y-%m-%d %H:%M} (UTC+8). A quiet hour, or is the IVR feed stopped?"
    )


def _banner(rules: tuple[Rule, ...], readings: dict[str, float | None]) -> html.Div | None:
    firing = sorted(
        (rule for rule in rules if rule.breached(readings.get(rule.id))),
        key=lambda rule: (SEVERITY_ORDER[rule.severity], rule.id),
    )
    if not firing:
        return None
    return html.Div(
        className="status error",
        children=[
            html.Div(
                f"{rule.severity.upper()} · {rule.condition}: "
                f"now {shown(rule.kind, readings.get(rule.id))}",
                id=f"queue-alert-{rule.id}",
            )
            for rule in firing
        ]
        + [dcc.Link("See the queue by prefecture", href="/queue#queue-prefectures")],
    )


def _rules_table(
    in_force: changes.Effective, readings: dict[str, float | None], recorded: dict[str, OpenAlert]
) -> Any:
    """Each rule in force, where its values come from, and what the evaluator has recorded."""
    within = in_force.config.service_level.answer_within_s
    rows = [
        [ANSWER_WITHIN, f"Service level counts calls answered within {within:g} s", NOTHING,
         _set_by(in_force, ANSWER_WITHIN), NOTHING, NOTHING, NOTHING],
        *(
            [rule.id, rule.condition, rule.severity, _set_by(in_force, rule.id),
             shown(rule.kind, readings.get(rule.id)),
             "ALERT" if rule.breached(readings.get(rule.id)) else "ok",
             f"open since {_local(recorded[rule.id].opened_at):%H:%M:%S}"
             if rule.id in recorded else NOTHING]
            for rule in in_force.config.rules
        ),
    ]  # fmt: skip
    return deep_dive.table(
        ["Rule", "Condition", "Severity", "Set by", "Reading", "Now", "Recorded"],
        rows,
        empty="The rules file has no rules.",
        limit=None,
        row_ids=[f"queue-rule-{row[0]}" for row in rows],
    )


def _set_by(in_force: changes.Effective, rule_id: str) -> str:
    change = in_force.changed.get(rule_id)
    if change is not None:
        return f"{change.changed_by}, {_local(change.at):%m-%d %H:%M} (UTC+8)"
    if rule_id in in_force.set_aside:
        return f"the file (a change was set aside: {in_force.set_aside[rule_id]})"
    return "the file"


def _table(snap: Snapshot) -> Any:
    """Busiest first: most waiting, then most calls judged."""
    order = sorted(
        snap.by_prefecture, key=lambda p: (-snap.waiting[p], -snap.by_prefecture[p].judged, p)
    )
    rows = []
    for prefecture in order:
        stats = snap.by_prefecture[prefecture]
        p90 = stats.wait_percentiles[1] if stats.wait_percentiles else None
        rows.append(
            [
                PREFECTURE_LABELS[prefecture],
                snap.waiting[prefecture],
                stats.answered,
                stats.abandoned,
                _percent(stats.service_level),
                _seconds(stats.asa_s),
                _percent(stats.abandonment_rate),
                _seconds(p90),
            ]
        )
    return deep_dive.table(
        ["Prefecture", "Waiting", "Answered", "Abandoned", "Service level", "ASA",
         "Abandonment", "Wait p90"],
        rows,
        empty="No prefecture has calls.",
        limit=None,
        row_ids=[f"queue-row-{p}" for p in order],
    )  # fmt: skip


def _predictions(a: wait_predictions.Accuracy, minutes: int) -> html.P:
    if not a.answered and not a.abandoned:
        return html.P(
            f"No predicted caller left the queue in the last {minutes} minutes (is the waits "
            "stage running?).",
            className="status empty",
        )
    bias = NOTHING if a.bias_s is None else f"{a.bias_s:+,.1f} s"
    return html.P(
        f"{a.answered:,} answered in the last {minutes} min: absolute error "
        f"p50 {_seconds(a.abs_error_p50_s)}, p90 {_seconds(a.abs_error_p90_s)}, bias {bias} "
        f"(predicted - actual). {a.abandoned:,} abandoned, censored; for "
        f"{a.abandoned_consistent:,} of them the prediction was at least the wait they gave "
        "up after.",
        id="queue-predictions-text",
    )


def _rates_chart(series: Series, target: float) -> go.Figure:
    x = [_local(b) for b in series.buckets]
    figure = go.Figure()
    for name, values, color in (
        ("Service level", [s.service_level for s in series.stats], "#0072B2"),
        ("Abandonment", [s.abandonment_rate for s in series.stats], "#D55E00"),
    ):
        figure.add_trace(
            go.Scatter(
                x=x,
                y=values,
                name=name,
                mode="lines+markers",
                line={"color": color, "width": 2},
                hovertemplate="%{x|%H:%M} %{y:.1%}<extra>%{fullData.name}</extra>",
            )
        )
    charts.base_layout(figure, height=CHART_HEIGHT, revision="queue-rates")
    figure.add_hline(y=target, line={"dash": "dot", "color": "#7b8794"})
    figure.update_xaxes(title_text=charts.TIME_AXIS_TITLE)
    figure.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return figure


def _calls_chart(series: Series) -> go.Figure:
    x = [_local(b) for b in series.buckets]
    figure = go.Figure()
    for name, values, color in (
        ("Answered", [s.answered for s in series.stats], "#009E73"),
        ("Abandoned", [s.abandoned + s.short_abandoned for s in series.stats], "#D55E00"),
    ):
        figure.add_trace(
            go.Bar(
                x=x,
                y=values,
                name=name,
                marker={"color": color},
                hovertemplate="%{x|%H:%M} %{y:,} calls<extra>%{fullData.name}</extra>",
            )
        )
    charts.base_layout(figure, height=CHART_HEIGHT, revision="queue-calls")
    figure.update_layout(barmode="stack")
    figure.update_xaxes(title_text=charts.TIME_AXIS_TITLE)
    figure.update_yaxes(title_text="calls", tickformat=",d")
    return figure


def _blank(message: str, now: datetime, status_class: str) -> dict[str, Any]:
    """Every number cleared and ``message`` shown: stale numbers must not pass for current."""
    nothing = charts.empty("", height=CHART_HEIGHT)
    return {
        "kpis": dict.fromkeys(KPIS, NOTHING),
        "details": dict.fromkeys(KPIS, ""),
        "table": None,
        "predictions": None,
        "rates": nothing,
        "calls": nothing,
        "status": message,
        "status_class": status_class,
        "alerts": None,
        "rules": None,
        "updated": _updated(now),
    }


def _percent(value: float | None) -> str:
    return NOTHING if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    return NOTHING if value is None else f"{value:,.1f} s"


def _local(moment: datetime) -> datetime:
    """Shanghai wall-clock time without tzinfo: Plotly would otherwise draw it in UTC."""
    return moment.astimezone(SHANGHAI).replace(tzinfo=None)


def _updated(now: datetime) -> str:
    return f"Updated {_local(now):%H:%M:%S} (UTC+8)"
