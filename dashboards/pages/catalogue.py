"""The service catalogue: what each channel offers, the requests to open or retire a service
with their next step and who may take it, and the demand that still arrives for what was
retired.

The page reads ``channel.catalogue`` to its end at each refresh (:mod:`channelhub.catalogue`),
so a step taken anywhere shows within a refresh, and writes through the same functions as
``channelhub service`` (:mod:`channelhub.catalogue.store`): the signed-in user is the actor,
and the staff file decides whether they hold the role a request or step is taken in, as on
the command line. Every role may open the page (analysts read the unmet demand); only the
catalogue's staff can change anything. For the latest openings and retirements the page shows
the service's use week by week around the change, for analysts judging it. Ids are prefixed
``catalogue-``; tests read ``catalogue-services``, ``catalogue-requests``, ``catalogue-unmet``,
``catalogue-changes`` and the ``-result`` lines.
"""

from datetime import UTC, datetime
from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from channelhub.catalogue import report, store
from dashboards import auth, db
from dashboards.deep_dive import table
from dashboards.labels import CHANNEL_LABELS
from dashboards.queries import catalogue as queries
from dashboards.queries import service_usage
from dashboards.roles import ROLES, Role, callback
from kernel.errors import ChannelhubError
from orchestration.catalogue import Catalogue, load_staff, staff_file
from schemas.catalogue import CATALOGUE_CHANNELS, OpenRequested

ALLOWED: tuple[Role, ...] = ROLES
#: How many of the latest openings and retirements the page follows week by week.
CHANGES_SHOWN = 10

dash.register_page(
    __name__,
    path="/catalogue",
    name="Service catalogue",
    title="Service catalogue · channelhub",
    roles=ALLOWED,
)


def layout(**_query: str) -> html.Div:
    """The skeleton and the forms; the catalogue arrives with the first refresh."""
    return html.Div(
        className="catalogue",
        children=[
            html.Div(className="page-title", children=[html.H1("Service catalogue")]),
            html.Div(id="catalogue-status", className="status"),
            html.Section(
                className="card",
                children=[
                    html.H2("Requests in progress"),
                    html.Div(id="catalogue-requests"),
                    *_step_form(),
                ],
            ),
            html.Section(
                className="card",
                children=[
                    html.H2("Unmet demand: requests for retired services since they retired"),
                    html.Div(id="catalogue-unmet"),
                ],
            ),
            html.Section(
                className="card",
                children=[
                    html.H2("Use around each change: self-service uses · agent contacts, by week"),
                    html.Div(id="catalogue-changes"),
                ],
            ),
            html.Section(className="card", children=_request_forms()),
            html.Section(
                className="card",
                children=[html.H2("What each channel offers"), html.Div(id="catalogue-services")],
            ),
            dcc.Interval(
                id="catalogue-interval",
                interval=int(db.request_settings().dashboard_refresh_seconds * 1000),
            ),
        ],
    )


def _field(label: str, control: Any) -> html.Label:
    return html.Label(className="filter", children=[html.Span(label), control])


def _step_form() -> list[Any]:
    return [
        html.Div(
            className="filters",
            children=[
                _field("Request", dcc.Dropdown(id="catalogue-step-request", clearable=False)),
                _field("Note", dcc.Input(id="catalogue-step-note", type="text", value="")),
                html.Button("Take the next step", id="catalogue-step-take", n_clicks=0),
            ],
        ),
        html.P(id="catalogue-step-result", className="card-note"),
    ]


def _request_forms() -> list[Any]:
    channels = [{"label": CHANNEL_LABELS.get(c, c), "value": c} for c in CATALOGUE_CHANNELS]
    return [
        html.H2("Ask to open or retire a service"),
        html.Div(
            className="filters",
            children=[
                _field("Open service", dcc.Input(id="catalogue-open-service", type="text")),
                _field(
                    "on",
                    dcc.Dropdown(id="catalogue-open-channel", options=channels, value="sms"),
                ),
                _field(
                    "at (keys, code[:keywords] or function)",
                    dcc.Input(id="catalogue-open-slot", type="text"),
                ),
                _field("Reason", dcc.Input(id="catalogue-open-reason", type="text", value="")),
                html.Button("Request opening", id="catalogue-open", n_clicks=0),
            ],
        ),
        html.Div(
            className="filters",
            children=[
                _field("Retire service", dcc.Dropdown(id="catalogue-retire-service")),
                _field(
                    "from (none: every channel)",
                    dcc.Checklist(
                        id="catalogue-retire-channels", options=channels, value=[], inline=True
                    ),
                ),
                _field("Reason", dcc.Input(id="catalogue-retire-reason", type="text", value="")),
                html.Button("Request retirement", id="catalogue-retire", n_clicks=0),
            ],
        ),
        html.P(id="catalogue-request-result", className="card-note"),
    ]


@callback(
    Output("catalogue-status", "children"),
    Output("catalogue-requests", "children"),
    Output("catalogue-step-request", "options"),
    Output("catalogue-retire-service", "options"),
    Output("catalogue-services", "children"),
    Output("catalogue-unmet", "children"),
    Output("catalogue-changes", "children"),
    Input("catalogue-interval", "n_intervals"),
    Input("catalogue-step-result", "children"),
    Input("catalogue-request-result", "children"),
    roles=ALLOWED,
)
def refresh(_tick: int | None, _stepped: Any, _requested: Any) -> tuple[Any, ...]:
    """The catalogue as the topic holds it now, and the unmet demand from ClickHouse."""
    settings = db.request_settings()
    try:
        catalogue = store.read_topic(settings).catalogue
        staff = load_staff(staff_file(settings))
    except ChannelhubError as e:
        return (f"{e}", *([dash.no_update] * 6))
    pending = [w for w in catalogue.workflows.values() if not w.finished]
    requests = table(
        ["request", "process", "service", "department", "at", "next step", "taken by a",
         "who may take it"],
        [
            (w.request.event_id[:8], w.process, w.request.service, w.request.department,
             w.last_step, *(w.next_step or ("", "")),
             ", ".join(report.who_may_take(staff, w)) or "no one in the staff file")
            for w in pending
        ],
        empty="No request is in progress.",
        limit=None,
    )  # fmt: skip
    choices = [
        {
            "label": f"{w.request.event_id[:8]} · {w.process} {w.request.service} → "
            f"{(w.next_step or ('', ''))[0]}",
            "value": w.request.event_id,
        }
        for w in pending
    ]
    status = f"Catalogue version {catalogue.version}: {len(catalogue.services())} services open."
    return (
        status,
        requests,
        choices,
        catalogue.services(),
        _services(catalogue),
        _unmet(settings, catalogue),
        _changes(settings, catalogue),
    )


def _services(catalogue: Catalogue) -> Any:
    return table(
        ["service", *(CHANNEL_LABELS.get(c, c) for c in CATALOGUE_CHANNELS)],
        [
            (service, *(on.get(c, "") for c in CATALOGUE_CHANNELS))
            for service, on in report.service_rows(catalogue)
        ],
        empty="The catalogue is empty: `channelhub service seed` writes today's.",
        limit=None,
    )


def _unmet(settings: Any, catalogue: Catalogue) -> Any:
    retired = catalogue.retired()
    try:
        with db.client(settings) as client:
            found = queries.unmet(client, retired, datetime.now(UTC))
    except ChannelhubError as e:
        return html.P(f"{e}", className="table-empty")
    return table(
        ["service", "channel", "retired entry", "retired at (UTC)", "requests since", "people"],
        [
            (u.service, CHANNEL_LABELS.get(u.channel, u.channel), u.slot,
             f"{u.retired_at:%Y-%m-%d %H:%M}", u.requests, u.people)
            for u in found
        ],
        empty="Nothing is retired.",
        row_ids=[f"catalogue-unmet-{u.channel}-{u.slot}" for u in found],
    )  # fmt: skip


def _changes(settings: Any, catalogue: Catalogue) -> Any:
    """The latest openings and retirements, each with its service's use per week around it
    (:mod:`dashboards.queries.service_usage`): on the channels it had or has entries on, and
    the agent contacts on its topic."""
    done = sorted(
        (w for w in catalogue.workflows.values() if w.finished and w.steps),
        key=lambda w: w.steps[-1].at,
        reverse=True,
    )[:CHANGES_SHOWN]
    weeks = range(-service_usage.WEEKS, service_usage.WEEKS)
    rows, ids = [], []
    try:
        with db.client(settings) as client:
            for w in done:
                service = w.request.service
                entries = [*catalogue.entries(service)]
                entries += [r.entry for r in catalogue.retired() if r.service == service]
                if isinstance(w.request, OpenRequested):
                    entries += w.request.entries
                around = service_usage.around(
                    client, w.steps[-1].at, service_usage.names_of(service, entries)
                )
                rows.append((
                    service, "opened" if w.process == "open" else "retired",
                    f"{w.steps[-1].at:%Y-%m-%d %H:%M}",
                    *(f"{week.self_service:,} · {week.agent_contacts:,}" for week in around),
                ))  # fmt: skip
                ids.append(f"catalogue-change-{w.request.event_id[:8]}")
    except ChannelhubError as e:
        return html.P(f"{e}", className="table-empty")
    return table(
        ["service", "change", "at (UTC)", *(f"week {k:+d}" if k else "week 0" for k in weeks)],
        rows,
        empty="No service has been opened or retired through the workflow yet.",
        row_ids=ids,
    )


def _user() -> str:
    return auth.current_user() or "dashboard"


@callback(
    Output("catalogue-step-result", "children"),
    Input("catalogue-step-take", "n_clicks"),
    State("catalogue-step-request", "value"),
    State("catalogue-step-note", "value"),
    prevent_initial_call=True,
    roles=ALLOWED,
)
def take_step(_clicks: int, request: str | None, note: str | None) -> str:
    """The chosen request's next step, taken by the signed-in user in its role."""
    if not request:
        return "Choose a request first."
    settings = db.request_settings()
    try:
        workflow = store.find_request(store.read_topic(settings).catalogue, request)
        upcoming = workflow.next_step
        if upcoming is None:
            return f"Request {request[:8]} is finished."
        event, after = store.take_step(settings, request, upcoming[0], by=_user(),
                                       note=note or "")  # fmt: skip
    except ChannelhubError as e:
        return f"Not taken: {e}"
    then = f"next {after[0]} by a {after[1]}" if after else f"the service is {event.step}"
    return f"{event.step} recorded for {event.service} by {event.who}; {then}."


@callback(
    Output("catalogue-request-result", "children"),
    Input("catalogue-open", "n_clicks"),
    Input("catalogue-retire", "n_clicks"),
    State("catalogue-open-service", "value"),
    State("catalogue-open-channel", "value"),
    State("catalogue-open-slot", "value"),
    State("catalogue-open-reason", "value"),
    State("catalogue-retire-service", "value"),
    State("catalogue-retire-channels", "value"),
    State("catalogue-retire-reason", "value"),
    prevent_initial_call=True,
    roles=ALLOWED,
)
def ask(
    _open: int, _retire: int, service: str | None, channel: str | None, slot: str | None,
    open_reason: str | None, retiring: str | None, channels: list[str] | None,
    retire_reason: str | None,
) -> str:  # fmt: skip
    """A request to open (one entry) or to retire, by the signed-in user as requester."""
    settings = db.request_settings()
    try:
        if dash.ctx.triggered_id == "catalogue-open":
            entry = store.parse_entry(channel or "", slot or "")
            event: Any = store.request_open(settings, (service or "").strip(), (entry,),
                                            by=_user(), reason=open_reason or "")  # fmt: skip
            what = "open"
        else:
            chosen = tuple(c for c in CATALOGUE_CHANNELS if c in (channels or []))
            event = store.request_retire(settings, retiring or "", chosen, by=_user(),
                                         reason=retire_reason or "")  # fmt: skip
            what = "retire"
    except ChannelhubError as e:
        return f"Not requested: {e}"
    return f"Requested to {what} {event.service}: request {event.request_id[:8]}."
