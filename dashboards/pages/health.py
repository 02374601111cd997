"""Data health in detail: intake, completeness, consumer lag per stage, dead letters by reason.

For the people who look after the pipeline and those who must judge whether today's numbers
can be trusted (ops and analysts); the one-line summary is in the shell of every page. Data
comes from :func:`dashboards.health.read`; ids are prefixed ``health-page-``.
"""

from datetime import UTC, datetime
from typing import Any

import dash
from dash import Input, Output, dcc, html

from dashboards import db
from dashboards import health as data_health
from dashboards.refresh import ERROR, storage_message
from dashboards.roles import Role, callback

ALLOWED: tuple[Role, ...] = ("ops", "analyst")

dash.register_page(
    __name__,
    path="/health",
    name="Data health",
    title="Data health · channelhub",
    roles=ALLOWED,
)


def layout(**_query: str) -> html.Div:
    """The skeleton; :func:`refresh` fills it on every tick."""
    refresh_s = db.request_settings().dashboard_refresh_seconds
    return html.Div(
        className="health-page",
        children=[
            html.Div(
                className="page-title",
                children=[
                    html.H1("Data health"),
                    html.Span(id="health-page-updated", className="page-updated"),
                ],
            ),
            html.Div(id="health-page-status", className="status"),
            html.Div(id="health-page-summary", className="kpis"),
            html.Section(
                className="card",
                children=[html.H2("Consumer lag (messages)"), html.Div(id="health-page-lag")],
            ),
            html.Section(
                className="card",
                children=[
                    html.H2("Dead letters in the last 24 h, by reason"),
                    html.Div(id="health-page-dead"),
                ],
            ),
            dcc.Interval(id="health-page-interval", interval=int(refresh_s * 1000)),
        ],
    )


@callback(
    Output("health-page-summary", "children"),
    Output("health-page-lag", "children"),
    Output("health-page-dead", "children"),
    Output("health-page-status", "children"),
    Output("health-page-status", "className"),
    Output("health-page-updated", "children"),
    Input("health-page-interval", "n_intervals"),
    roles=ALLOWED,
)
def refresh(_tick: int | None) -> tuple[Any, ...]:
    report = data_health.read(db.request_settings(), datetime.now(UTC))
    status, status_class = (
        (storage_message(report.storage_error), ERROR) if report.storage_error else ("", "status")
    )
    updated = f"Updated {data_health.local_minute(report.now)} Asia/Shanghai"
    return _summary(report), _lag(report), _dead(report), status, status_class, updated


def _summary(report: data_health.Report) -> list[html.Div]:
    rate = "—" if report.events_per_second is None else f"{report.events_per_second:,.1f}"

    def card(key: str, label: str, value: str, detail: str) -> html.Div:
        return html.Div(
            className="kpi",
            children=[
                html.Div(label, className="kpi-label"),
                html.Div(value, id=f"health-page-{key}", className="kpi-value"),
                html.Div(detail, className="kpi-detail"),
            ],
        )

    complete, why = data_health.complete_text(report)
    return [
        card("rate", "Events in", rate, "per second, written in the last minute"),
        card(
            "complete",
            "Complete to",
            complete,
            why or "newest minute every partition has passed (Asia/Shanghai)",
        ),
    ]


def _lag(report: data_health.Report) -> html.Table:
    return html.Table(
        className="table",
        children=[
            html.Tr([html.Th("Stage"), html.Th("Behind")]),
            *(
                html.Tr(
                    [html.Td(stage), html.Td(data_health.lag_text(n), id=f"health-lag-{stage}")]
                )
                for stage, n in report.lag.items()
            ),
        ],
    )


def _dead(report: data_health.Report) -> html.Table | str:
    if not report.dead_letters:
        return "None." if not report.storage_error else "—"
    return html.Table(
        id="health-page-dead-table",
        className="table",
        children=[
            html.Tr(
                [html.Th(h) for h in ("Reason", "Count", "Newest", "Field", "Message", "Example")]
            ),
            *(
                html.Tr(
                    [
                        html.Td(r.reason_code),
                        html.Td(f"{r.count:,}"),
                        html.Td(data_health.local_minute(r.newest_at)),
                        html.Td(r.field),
                        html.Td(r.message),
                        html.Td(html.Code(r.example), className="example"),
                    ]
                )
                for r in report.dead_letters
            ),
        ],
    )
