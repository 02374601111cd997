"""Campaigns and nudges: the funnel of every rule and campaign, its uplift, and campaign
creation and triggering for marketing.

Everyone with the page (analysts, ops, marketing) reads the funnel
(:mod:`dashboards.queries.marketing`), the measured uplift (:mod:`orchestration.uplift`) and
the campaign list; only marketing sees the create and trigger controls, and their callbacks
declare only marketing, so the server refuses a replayed request from another role before it
runs. Creating and triggering go through the same
functions as ``channelhub campaign`` (:mod:`orchestration.campaigns.store`): a campaign file's
checks, events on ``campaigns.events``, nothing written to ClickHouse from here. Ids are
prefixed ``marketing-``; tests read ``marketing-funnel-<stage>`` and ``marketing-preview``.
"""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import dash
import msgspec
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from channelhub.errors import ChannelhubError, StorageError
from dashboards import auth, charts, db, deep_dive
from dashboards.labels import BRAND_LABELS, CHANNEL_LABELS, PREFECTURE_LABELS
from dashboards.queries import marketing as queries
from dashboards.roles import Role, callback
from orchestration.campaigns import audience, store
from orchestration.campaigns.loader import check_spec
from orchestration.campaigns.model import CampaignSpec
from orchestration.config_files import explain
from orchestration.rules.guidance import WAYS
from orchestration.uplift import Uplift, uplift
from schemas.envelope import BRANDS, CHANNELS, PREFECTURES

ALLOWED: tuple[Role, ...] = ("analyst", "ops", "marketing")
#: Who may create and trigger campaigns: the page's readers may not, however they ask.
MARKETING: tuple[Role, ...] = ("marketing",)

dash.register_page(
    __name__,
    path="/campaigns",
    name="Campaigns",
    title="Campaigns and nudges · channelhub",
    roles=ALLOWED,
)

log = logging.getLogger(__name__)

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
STAGES = ("requested", "approved", "holdout", "sent", "delivered", "converted")
SELF_SERVICE_ITEMS = sorted(item for item, way in WAYS.items() if way.exists)
DEFAULT_TEMPLATE = "【湖南移动】{brand_name}客户：发送0101到10086查实时话费，免排队。回复TD退订"  # noqa: RUF001 - Chinese takes full-width punctuation


def layout(source: str | None = None, **_query: str) -> html.Div:
    """The skeleton; the data arrives through callbacks. ``?source=`` preselects a funnel."""
    marketing = "marketing" in auth.current_roles()
    return html.Div(
        className="marketing",
        children=[
            html.Div(className="page-title", children=[html.H1("Campaigns and nudges")]),
            html.Section(className="card", children=_funnel_card(source)),
            html.Section(
                className="card",
                children=[html.H2("Campaigns"), html.Div(id="marketing-campaigns")],
            ),
            *(_marketing_cards() if marketing else []),
            dcc.Location(id="marketing-url", refresh=False),
            dcc.Interval(
                id="marketing-interval",
                interval=int(db.request_settings().dashboard_refresh_seconds * 1000),
            ),
        ],
    )


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
        html.Div(id="marketing-suppressed"),
        html.Div(id="marketing-uplift", className="uplift"),
    ]


def _marketing_cards() -> list[html.Section]:
    def field(label: str, control: Any) -> html.Label:
        return html.Label(className="filter", children=[html.Span(label), control])

    def choices(labels: dict[str, str], values: tuple[str, ...]) -> list[dict[str, str]]:
        return [{"label": labels.get(v, v), "value": v} for v in values]

    return [
        html.Section(
            className="card",
            children=[
                html.H2("New campaign"),
                html.Div(
                    className="form",
                    children=[
                        field("Id", dcc.Input(id="marketing-new-id", value="", type="text")),
                        field(
                            "Description",
                            dcc.Input(id="marketing-new-description", value="", type="text"),
                        ),
                        field(
                            "SMS text",
                            dcc.Textarea(id="marketing-new-template", value=DEFAULT_TEMPLATE),
                        ),
                        field(
                            "Used in the last 30 days",
                            dcc.Dropdown(
                                id="marketing-new-used",
                                options=choices(CHANNEL_LABELS, CHANNELS),
                                multi=True,
                            ),
                        ),
                        field(
                            "Not used in the last 30 days",
                            dcc.Dropdown(
                                id="marketing-new-not-used",
                                options=choices(CHANNEL_LABELS, CHANNELS),
                                multi=True,
                            ),
                        ),
                        field(
                            "Prefectures",
                            dcc.Dropdown(
                                id="marketing-new-prefectures",
                                options=choices(PREFECTURE_LABELS, PREFECTURES),
                                multi=True,
                            ),
                        ),
                        field(
                            "Brands",
                            dcc.Dropdown(
                                id="marketing-new-brands",
                                options=choices(BRAND_LABELS, BRANDS),
                                multi=True,
                            ),
                        ),
                        field(
                            "Goal: uses this self-service within 7 days",
                            dcc.Dropdown(
                                id="marketing-new-goal",
                                options=SELF_SERVICE_ITEMS,
                                value="query.realtime_charges",
                                clearable=False,
                            ),
                        ),
                        field(
                            "Holdout share",
                            dcc.Input(
                                id="marketing-new-holdout",
                                value=0.1,
                                type="number",
                                min=0,
                                max=1,
                                step=0.05,
                            ),
                        ),
                        field(
                            "Budget (messages)",
                            dcc.Input(
                                id="marketing-new-budget", value=1000, type="number", min=1, step=1
                            ),
                        ),
                    ],
                ),
                html.Div(id="marketing-preview", className="preview"),
                html.Button("Create campaign", id="marketing-create", n_clicks=0),
                dcc.ConfirmDialog(id="marketing-create-confirm"),
                html.Div(id="marketing-create-result", className="result"),
            ],
        ),
        html.Section(
            className="card",
            children=[
                html.H2("Trigger a campaign now"),
                dcc.Dropdown(id="marketing-trigger-id", placeholder="Campaign"),
                html.Button("Trigger now", id="marketing-trigger", n_clicks=0),
                dcc.ConfirmDialog(id="marketing-trigger-confirm"),
                html.Div(id="marketing-trigger-result", className="result"),
            ],
        ),
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
    settings = db.request_settings()
    try:
        with db.client(settings) as client:
            found = queries.sources(client)
            campaigns = store.list_campaigns(client, settings.clickhouse_database)
    except (StorageError, ChannelhubError) as e:
        log.warning("campaigns page: %s", e)
        return [], chosen, html.P(f"{e}. Is ClickHouse running (`channelhub up`)?")
    value = chosen if chosen in found else (found[0] if found else None)
    options = dash.no_update if found == shown else found
    return options, dash.no_update if value == current else value, _campaign_table(campaigns)


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
        "suppressed": Output("marketing-suppressed", "children"),
        "uplift": Output("marketing-uplift", "children"),
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
    blank = {s: "—" for s in STAGES}
    if not source:
        return _funnel_blank(blank, "No rule or campaign has asked for a nudge yet.")
    if span not in RANGES:
        return _funnel_blank(blank, "Choose one of the offered ranges.")
    end = datetime.now(UTC)
    settings = db.request_settings()
    try:
        with db.client(settings) as client:
            f = queries.funnel(client, source, end - RANGES[span], end)
            measured = {u.rule_id: u for u in uplift(client, settings.clickhouse_database)}
    except StorageError as e:
        log.warning("campaigns page: %s", e)
        return _funnel_blank(blank, f"{e}. Is ClickHouse running (`channelhub up`)?")
    if not f.requested:
        return _funnel_blank(blank, f"{source} asked for no nudge in the last {span}.")
    converted = f.converted_sent
    values = dict(
        zip(
            STAGES,
            (f.requested, f.approved, f.holdout, f.sent, f.delivered, converted),
            strict=True,
        )
    )
    return {
        "stages": {s: f"{n:,}" for s, n in values.items()},
        "chart": _funnel_chart(values, source),
        "suppressed": _suppressed(f.suppressed, f.held),
        "uplift": _uplift_text(measured.get(source)),
        "status": "",
    }


def _funnel_blank(blank: dict[str, str], why: str) -> dict[str, Any]:
    return {
        "stages": blank,
        "chart": charts.empty(why, height=300),
        "suppressed": "",
        "uplift": "",
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


def _problem(error: Exception) -> str:
    """A form error in words: which field, and what it needs."""
    if isinstance(error, msgspec.ValidationError):
        field, problem = explain(str(error))
        if field == "id":
            return "give it an id of lower-case letters, digits, '-' and '_' (at most 64)"
        return f"{field}: {problem}"
    return str(error)


def _spec(controls: dict[str, Any]) -> CampaignSpec:
    """The form as a campaign spec, through the same checks as a campaign file."""
    used, not_used = controls["used"] or [], controls["not_used"] or []
    raw = {
        "id": (controls["id"] or "").strip(),
        "description": (controls["description"] or "").strip() or "created in the dashboard",
        "template": controls["template"] or "",
        "audience": {
            "prefectures": controls["prefectures"] or [],
            "brands": controls["brands"] or [],
            "used": [{"channels": used, "within_days": 30}] if used else [],
            "not_used": [{"channels": not_used, "within_days": 30}] if not_used else [],
        },
        "goal": {"kind": "uses_self_service", "function": controls["goal"], "within_hours": 168},
        "holdout_share": controls["holdout"],
        "budget": {"max_messages": controls["budget"]},
    }
    spec = msgspec.convert(raw, CampaignSpec)
    check_spec(spec, "the form")
    return spec


_FORM = {
    "id": State("marketing-new-id", "value"),
    "description": State("marketing-new-description", "value"),
    "template": State("marketing-new-template", "value"),
    "used": State("marketing-new-used", "value"),
    "not_used": State("marketing-new-not-used", "value"),
    "prefectures": State("marketing-new-prefectures", "value"),
    "brands": State("marketing-new-brands", "value"),
    "goal": State("marketing-new-goal", "value"),
    "holdout": State("marketing-new-holdout", "value"),
    "budget": State("marketing-new-budget", "value"),
}


@callback(
    Output("marketing-preview", "children"),
    inputs={name: Input(s.component_id, s.component_property) for name, s in _FORM.items()},
    roles=MARKETING,
)
def preview(**controls: Any) -> str:
    """The audience size as the form stands, live: what a trigger now would select."""
    try:
        spec = _spec(controls)
    except (msgspec.ValidationError, ChannelhubError) as e:
        return f"Not a valid campaign yet: {_problem(e)}"
    settings = db.request_settings()
    try:
        with db.client(settings) as client:
            seen = audience.preview(
                client, settings.clickhouse_database, spec.audience, datetime.now(UTC)
            )
    except StorageError as e:
        return f"{e}"
    return f"Audience now: {seen.size:,} subscribers (before caps, opt-outs and holdout)."


@callback(
    Output("marketing-create-confirm", "displayed"),
    Output("marketing-create-confirm", "message"),
    Input("marketing-create", "n_clicks"),
    State("marketing-new-id", "value"),
    prevent_initial_call=True,
    roles=MARKETING,
)
def ask_create(_clicks: int, campaign_id: str | None) -> tuple[bool, str]:
    return True, f"Create campaign {campaign_id or '(no id)'!r}? A campaign never changes."


@callback(
    Output("marketing-create-result", "children"),
    inputs={"submitted": Input("marketing-create-confirm", "submit_n_clicks")},
    state=_FORM,
    prevent_initial_call=True,
    roles=MARKETING,
)
def create(submitted: int, **controls: Any) -> str:
    """Create the campaign as the signed-in user: a ``campaign.created`` event."""
    try:
        spec = _spec(controls)
        store.create(_reader(), spec, by=auth.current_user() or "dashboard")
    except (msgspec.ValidationError, ChannelhubError) as e:
        return f"Not created: {_problem(e)}"
    return f"Created campaign {spec.id!r}; it can be triggered once it shows in the list."


@callback(
    Output("marketing-trigger-id", "options"),
    Input("marketing-campaigns", "children"),
    roles=MARKETING,
)
def trigger_choices(_table: Any) -> list[str]:
    settings = db.request_settings()
    try:
        with db.client(settings) as client:
            return [
                c.campaign_id for c in store.list_campaigns(client, settings.clickhouse_database)
            ]
    except (StorageError, ChannelhubError):
        return []


@callback(
    Output("marketing-trigger-confirm", "displayed"),
    Output("marketing-trigger-confirm", "message"),
    Input("marketing-trigger", "n_clicks"),
    State("marketing-trigger-id", "value"),
    prevent_initial_call=True,
    roles=MARKETING,
)
def ask_trigger(_clicks: int, campaign_id: str | None) -> tuple[bool, str]:
    if not campaign_id:
        return False, ""
    return True, f"Send campaign {campaign_id!r} now to its whole audience?"


@callback(
    Output("marketing-trigger-result", "children"),
    Input("marketing-trigger-confirm", "submit_n_clicks"),
    State("marketing-trigger-id", "value"),
    prevent_initial_call=True,
    roles=MARKETING,
)
def trigger(_submitted: int, campaign_id: str | None) -> str:
    """Trigger now as the signed-in user: a ``campaign.triggered`` event the fan-out takes."""
    if not campaign_id:
        return "Choose a campaign first."
    try:
        event = store.trigger(_reader(), campaign_id, by=auth.current_user() or "dashboard")
    except ChannelhubError as e:
        return f"Not triggered: {e}"
    return f"Triggered {campaign_id!r} for {event.scheduled_at:%Y-%m-%d %H:%M:%S} UTC."


def _reader() -> Any:
    """The app's settings with the read-only ClickHouse user: the campaign functions only
    read ClickHouse (and write to Kafka), so the dashboard never needs more."""
    s = db.request_settings()
    return s.model_copy(
        update={
            "clickhouse_user": s.dashboard_clickhouse_user,
            "clickhouse_password": s.dashboard_clickhouse_password,
        }
    )
