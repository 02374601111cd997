"""New campaign (marketing): create a campaign with its audience counted live, and trigger one.

Creating and triggering go through the same functions as ``channelhub campaign``
(:mod:`channelhub.marketing.store`): a campaign file's checks, events on
``campaigns.events``, nothing written to ClickHouse from here. The page and every callback on
it are for marketing alone, so the server refuses a replayed request from another role before
it runs. What campaigns do once sent is on the campaigns page (:mod:`dashboards.pages.marketing`).
Ids are prefixed ``marketing-``, as that page's; tests read ``marketing-preview``,
``marketing-create-result`` and ``marketing-trigger-result``.
"""

from datetime import UTC, datetime
from typing import Any

import dash
import msgspec
from dash import Input, Output, State, dcc, html

from channelhub.marketing import audience, store
from dashboards import auth, db
from dashboards.labels import BRAND_LABELS, CHANNEL_LABELS, PREFECTURE_LABELS
from dashboards.roles import Role, callback
from kernel.errors import ChannelhubError, StorageError
from orchestration.campaigns.loader import check_spec
from orchestration.config_files import explain
from orchestration.rules.guidance import WAYS
from schemas.campaign_spec import CampaignSpec
from schemas.envelope import BRANDS, CHANNELS, PREFECTURES

ALLOWED: tuple[Role, ...] = ("marketing",)

dash.register_page(
    __name__,
    path="/campaigns/new",
    name="New campaign",
    title="New campaign · channelhub",
    roles=ALLOWED,
)

SELF_SERVICE_ITEMS = sorted(item for item, way in WAYS.items() if way.exists)
DEFAULT_TEMPLATE = "【湖南移动】{brand_name}客户：发送0101到10086查实时话费，免排队。回复TD退订"  # noqa: RUF001 - Chinese takes full-width punctuation


def layout(**_query: str) -> html.Div:
    """The form and the trigger; nothing is read until a callback asks."""
    return html.Div(
        className="marketing",
        children=[
            html.Div(className="page-title", children=[html.H1("Create and trigger campaigns")]),
            *_cards(),
        ],
    )


def _cards() -> list[html.Section]:
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
                dcc.Interval(
                    id="marketing-trigger-interval",
                    interval=int(db.request_settings().dashboard_refresh_seconds * 1000),
                ),
            ],
        ),
    ]


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
    roles=ALLOWED,
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
    roles=ALLOWED,
)
def ask_create(_clicks: int, campaign_id: str | None) -> tuple[bool, str]:
    return True, f"Create campaign {campaign_id or '(no id)'!r}? A campaign never changes."


@callback(
    Output("marketing-create-result", "children"),
    inputs={"submitted": Input("marketing-create-confirm", "submit_n_clicks")},
    state=_FORM,
    prevent_initial_call=True,
    roles=ALLOWED,
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
    Input("marketing-trigger-interval", "n_intervals"),
    roles=ALLOWED,
)
def trigger_choices(_tick: int | None) -> list[str]:
    """The campaigns there are, refreshed so that one just created can be chosen."""
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
    roles=ALLOWED,
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
    roles=ALLOWED,
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
