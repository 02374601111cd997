"""Campaigns and nudges: the funnel of every rule and campaign, its uplift, and the campaigns.

Everyone with the page (analysts, ops, marketing) reads the funnel
(:mod:`dashboards.queries.marketing`), the measured uplift (:mod:`channelhub.marketing.uplift`),
for an in-queue rule its effect on abandonment and agent load against its holdout
(:mod:`dashboards.queries.wait_predictions`), and the campaign list. Creating and
triggering a campaign is marketing's alone and on its own page
(:mod:`dashboards.pages.marketing_new_campaign`), as is back-testing a rule
(:mod:`dashboards.pages.marketing_backtest`), both linked from here for marketing. Ids are
prefixed ``marketing-``; tests read ``marketing-funnel-<stage>`` and ``marketing-effect``.
"""

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import dash
import plotly.graph_objects as go
from clickhouse_driver import Client
from dash import Input, Output, State, dcc, html

from channelhub.marketing import store
from channelhub.marketing.uplift import Uplift, uplift
from dashboards import auth, charts, db, deep_dive
from dashboards import refresh as page_refresh
from dashboards.queries import marketing as queries
from dashboards.queries import wait_predictions
from dashboards.queries.wait_predictions import Difference, Effect
from dashboards.roles import Role, callback

ALLOWED: tuple[Role, ...] = ("analyst", "ops", "marketing")

dash.register_page(
    __name__,
    path="/campaigns",
    name="Campaigns",
    title="Campaigns and nudges · channelhub",
    roles=ALLOWED,
)


RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
STAGES = ("requested", "approved", "holdout", "sent", "delivered", "converted")
#: Where marketing creates and triggers campaigns (:mod:`dashboards.pages.marketing_new_campaign`).
AUTHORING = "/campaigns/new"
#: Where marketing back-tests a rule file (:mod:`dashboards.pages.marketing_backtest`).
BACKTEST = "/campaigns/backtest"


def layout(source: str | None = None, **_query: str) -> html.Div:
    """The skeleton; the data arrives through callbacks. ``?source=`` preselects a funnel."""
    return html.Div(
        className="marketing",
        children=[
            html.Div(className="page-title", children=[html.H1("Campaigns and nudges")]),
            html.Section(className="card", children=_funnel_card(source)),
            html.Section(
                className="card",
                children=[html.H2("Campaigns"), html.Div(id="marketing-campaigns")],
            ),
            *(_authoring_link() if "marketing" in auth.current_roles() else []),
            dcc.Location(id="marketing-url", refresh=False),
            dcc.Interval(
                id="marketing-interval",
                interval=int(db.request_settings().dashboard_refresh_seconds * 1000),
            ),
        ],
    )


def _authoring_link() -> list[html.P]:
    return [
        html.P(dcc.Link("Create or trigger a campaign", href=AUTHORING), className="card-note"),
        html.P(dcc.Link("Back-test a rule", href=BACKTEST), className="card-note"),
    ]


def _funnel_card(source: str | None) -> list[Any]:
    return [
        html.H2("Funnel: asked → decided → sent → delivered → converted"),
        html.Div(
            className="filters",
            children=[
                html.Label(
                    className="filter",
                    children=[
                        html.Span("Rule or campaign"),
                        dcc.Dropdown(id="marketing-source", value=source, clearable=False),
                    ],
                ),
                html.Label(
                    className="filter",
                    children=[
                        html.Span("Requested in the last"),
                        dcc.RadioItems(
                            id="marketing-range",
                            options=[{"label": k, "value": k} for k in RANGES],
                            value="7d",
                            inline=True,
                        ),
                    ],
                ),
            ],
        ),
        html.Div(id="marketing-status", className="status"),
        html.Div(
            className="kpis",
            children=[
                html.Div(
                    className="kpi",
                    children=[
                        html.Div(stage.title(), className="kpi-label"),
                        html.Div("—", id=f"marketing-funnel-{stage}", className="kpi-value"),
                    ],
                )
                for stage in STAGES
            ],
        ),
        dcc.Graph(id="marketing-funnel-chart", config=deep_dive.GRAPH_CONFIG),
        html.P(id="marketing-template"),
        html.Div(id="marketing-suppressed"),
        html.Div(id="marketing-uplift", className="uplift"),
        html.Div(id="marketing-effect", className="uplift"),
    ]


@callback(
    Output("marketing-source", "options"),
    Output("marketing-source", "value"),
    Output("marketing-campaigns", "children"),
    Input("marketing-interval", "n_intervals"),
    State("marketing-source", "value"),
    State("marketing-source", "options"),
    State("marketing-url", "search"),
    roles=ALLOWED,
)
def refresh_sources(
    _tick: int | None, chosen: str | None, shown: Any, search: str | None
) -> tuple[Any, ...]:
    """The rules and campaigns with nudges (sent only when they change), and the campaigns.
    Until one is chosen, ``?source=`` (a link from the campaign list) says which."""
    current = chosen
    linked = parse_qs((search or "").lstrip("?")).get("source", [])
    chosen = chosen or (linked[0] if linked else None)

    def view(
        _: None, found: tuple[list[str], list[store.CampaignSummary]], _now: datetime
    ) -> tuple[Any, ...]:
        sources, campaigns = found
        value = chosen if chosen in sources else (sources[0] if sources else None)
        options = dash.no_update if sources == shown else sources
        return options, dash.no_update if value == current else value, _campaign_table(campaigns)

    return page_refresh.refresh(
        "campaigns",
        lambda _now: None,
        _sources,
        view,
        lambda why, _now, _class: ([], chosen, html.P(why)),
    )


def _sources(
    client: Client, _: None, _now: datetime
) -> tuple[list[str], list[store.CampaignSummary]]:
    database = db.request_settings().clickhouse_database
    return queries.sources(client), store.list_campaigns(client, database)


def _campaign_table(campaigns: list[store.CampaignSummary]) -> Any:
    if not campaigns:
        return html.P("No campaign has been created yet.", className="status empty")
    rows = [
        html.Tr(
            [
                html.Td(
                    dcc.Link(c.campaign_id, href=f"/campaigns?source=campaign:{c.campaign_id}")
                ),
                html.Td(f"{c.created_by}, {c.created_at:%Y-%m-%d %H:%M} UTC"),
                html.Td(
                    f"{c.triggers[-1].scheduled_at:%Y-%m-%d %H:%M} UTC"
                    if c.triggers
                    else "not triggered"
                ),
                html.Td(", ".join(f"{o} {n:,}" for o, n in sorted(c.decisions.items())) or "—"),
            ]
        )
        for c in campaigns
    ]
    head = html.Tr([html.Th(h) for h in ("Campaign", "Created", "Last trigger", "Decisions")])
    return html.Table([html.Thead(head), html.Tbody(rows)], className="table")


@callback(
    output={
        "stages": {s: Output(f"marketing-funnel-{s}", "children") for s in STAGES},
        "chart": Output("marketing-funnel-chart", "figure"),
        "template": Output("marketing-template", "children"),
        "suppressed": Output("marketing-suppressed", "children"),
        "uplift": Output("marketing-uplift", "children"),
        "effect": Output("marketing-effect", "children"),
        "status": Output("marketing-status", "children"),
    },
    inputs={
        "source": Input("marketing-source", "value"),
        "span": Input("marketing-range", "value"),
        "_tick": Input("marketing-interval", "n_intervals"),
    },
    roles=ALLOWED,
)
def refresh_funnel(source: str | None, span: str, _tick: int | None) -> dict[str, Any]:
    """One rule's (or campaign's) funnel and uplift; a message instead when there is none."""
    if not source:
        return _funnel_blank("No rule or campaign has asked for a nudge yet.")
    if span not in RANGES:
        return _funnel_blank("Choose one of the offered ranges.")
    return page_refresh.refresh(
        "campaigns",
        lambda now: (now - RANGES[span], now),
        lambda client, window, _now: _funnel(client, source, *window),
        lambda _window, found, _now: _funnel_view(source, span, *found),
        lambda why, _now, _class: _funnel_blank(why),
    )


def _funnel(
    client: Client, source: str, start: datetime, end: datetime
) -> tuple[queries.Funnel, Uplift | None, Effect | None]:
    """``source``'s funnel from ``start`` to ``end``, its uplift over all time, and, for an
    in-queue rule, its effect on the calls of the same range."""
    database = db.request_settings().clickhouse_database
    measured = {u.rule_id: u for u in uplift(client, database)}
    effect = None
    if source in wait_predictions.in_queue_rules(client):
        effect = wait_predictions.effect(client, source, start, end)
    return queries.funnel(client, source, start, end), measured.get(source), effect


def _funnel_view(
    source: str, span: str, f: queries.Funnel, measured: Uplift | None, effect: Effect | None
) -> dict[str, Any]:
    if not f.requested:
        return _funnel_blank(f"{source} asked for no nudge in the last {span}.")
    values = dict(
        zip(
            STAGES,
            (f.requested, f.approved, f.holdout, f.sent, f.delivered, f.converted_sent),
            strict=True,
        )
    )
    return {
        "stages": {s: f"{n:,}" for s, n in values.items()},
        "chart": _funnel_chart(values, source),
        "template": _template_text(f.sent_versions),
        "suppressed": _suppressed(f.suppressed, f.held),
        "uplift": _uplift_text(measured),
        "effect": _effect_text(effect, span),
        "status": "",
    }


def _funnel_blank(why: str) -> dict[str, Any]:
    return {
        "stages": dict.fromkeys(STAGES, "—"),
        "chart": charts.empty(why, height=300),
        "template": "",
        "suppressed": "",
        "uplift": "",
        "effect": "",
        "status": why,
    }


def _funnel_chart(values: dict[str, int], source: str) -> go.Figure:
    """The stages a sent nudge goes through; the holdout group is a branch, not a stage, and
    has its own card."""
    stages = {s: n for s, n in values.items() if s != "holdout"}
    figure = go.Figure(
        go.Funnel(
            y=[s.title() for s in stages], x=list(stages.values()), textinfo="value+percent initial"
        )
    )
    return charts.base_layout(figure, height=320, revision=source)


def _template_text(versions: dict[int, int]) -> str:
    """Which published version of the template the sent nudges carried."""
    if not versions:
        return "Template: nothing sent yet."
    sent = [
        f"v{version}: {n:,} sent" if version else f"before publishing: {n:,} sent"
        for version, n in sorted(versions.items(), reverse=True)
    ]
    return f"Template versions sent: {'; '.join(sent)} (their texts: channelhub content show)."


def _suppressed(reasons: dict[str, int], held: int) -> Any:
    items = [html.Li(f"{reason.replace('_', ' ')}: {n:,}") for reason, n in reasons.items()]
    if held:
        items.append(html.Li(f"still held (quiet hours, live call, gateway rate): {held:,}"))
    if not items:
        return html.P("Nothing suppressed.")
    return html.Div([html.H3("Suppressed, by reason"), html.Ul(items, id="marketing-reasons")])


def _uplift_text(u: Uplift | None) -> str:
    if u is None:
        return "Uplift: no sent or held-out nudge yet."
    groups = (
        f"sent {u.sent_converted:,}/{u.sent:,} converted, holdout "
        f"{u.holdout_converted:,}/{u.holdout:,}"
    )
    if u.uplift is None or u.ci_low is None or u.ci_high is None:
        return f"Uplift over all time: {groups}; no interval until both groups have members."
    return (
        f"Uplift over all time: {u.uplift:+.1%} (95% CI {u.ci_low:+.1%} to "
        f"{u.ci_high:+.1%}); {groups}."
    )


def _effect_text(e: Effect | None, span: str) -> str:
    """An in-queue rule's effect on the calls it met: treated against holdout."""
    if e is None:
        return ""
    calls = f"{e.treated_calls:,} calls sent to, {e.holdout_calls:,} held out (last {span})"
    if e.abandonment.difference is None or e.agent_answered.difference is None:
        return f"Effect on the calls: {calls}; no comparison until both groups have calls."
    return (
        f"Effect on the calls: abandoned {_rate_change(e.abandonment)}, answered by an agent "
        f"{_rate_change(e.agent_answered)}; {calls}."
    )


def _rate_change(d: Difference) -> str:
    return (
        f"{d.treated:.1%} against {d.holdout:.1%} ({d.difference:+.1%}, 95% CI "
        f"{d.ci_low:+.1%} to {d.ci_high:+.1%})"
    )
