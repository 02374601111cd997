"""Cross-channel deep-dive: the contact mix over time, how much of each self-service function
the channels take from the agents (the deflection the operator aims for), and re-contact
within 24 h as a first-contact-resolution measure.

Every number comes from :mod:`dashboards.queries.cross_channel`; what each function does is
named by the live service catalogue (:mod:`dashboards.live_catalogue`). Ids are prefixed
``cross-``;
tests read ``cross-total-<key>``.
"""

from datetime import datetime
from typing import Any

import dash
import plotly.graph_objects as go
from clickhouse_driver import Client
from dash import Output, dcc, html

from dashboards import charts, db, deep_dive, live_catalogue
from dashboards.deep_dive import share
from dashboards.filters import SHANGHAI, VolumeFilter
from dashboards.labels import CHANNEL_COLORS, CHANNEL_LABELS
from dashboards.queries import cross_channel
from dashboards.roles import Role
from schemas.envelope import CHANNELS

ALLOWED: tuple[Role, ...] = ("analyst",)

dash.register_page(
    __name__,
    path="/cross-channel",
    name="Cross-channel",
    title="Cross-channel · channelhub",
    roles=ALLOWED,
)


PREFIX = "cross"
KPIS = ("contacts", "self-service", "resolved")
MIX_HEIGHT = 360
#: Functions shown in the deflection chart, those agents handle most first.
TOP_FUNCTIONS = 20
DEFLECTION_HEIGHT = 560


def layout(**_query: str) -> html.Div:
    """The page skeleton; data arrives through :func:`refresh`, never at import or here."""
    graph = deep_dive.GRAPH_CONFIG
    return deep_dive.page(
        PREFIX,
        "Cross-channel",
        [
            html.Div(
                className="kpis",
                children=[
                    deep_dive.kpi(PREFIX, "contacts", "Contacts"),
                    deep_dive.kpi(
                        PREFIX,
                        "self-service",
                        "Functions done in self-service",
                        CHANNEL_COLORS["sms"],
                    ),
                    deep_dive.kpi(
                        PREFIX, "resolved", "No re-contact within 24 h", CHANNEL_COLORS["ivr"]
                    ),
                ],
            ),
            deep_dive.card(
                "Channel mix: share of contacts by channel",
                dcc.Graph(id="cross-chart-mix", config=graph),
            ),
            html.Div(
                className="split",
                children=[
                    deep_dive.card(
                        f"Where each self-service function is done (top {TOP_FUNCTIONS} "
                        "by agent requests)",
                        html.P(
                            "Successful self-service uses on each channel against requests "
                            "agents handled on the same topic.",
                            className="card-note",
                        ),
                        dcc.Graph(id="cross-chart-deflection", config=graph),
                    ),
                    deep_dive.card(
                        "Re-contact within 24 h, by the channel of the first contact",
                        html.Div(id="cross-recontacts"),
                    ),
                ],
            ),
        ],
    )


def _fetch(client: Client, f: VolumeFilter, _now: datetime) -> tuple[Any, Any, Any]:
    names = live_catalogue.names(db.request_settings())
    return (
        cross_channel.mix(client, f),
        cross_channel.deflection(client, f.start, f.end, names),
        cross_channel.recontacts(client, f.start, f.end),
    )


def _nothing(found: tuple[Any, Any, dict[str, Any]]) -> deep_dive.Nothing | None:
    contacts = sum(r.contacts for r in found[2].values())
    return None if contacts else deep_dive.Nothing("contacts", CHANNELS)


def _view(
    f: VolumeFilter,
    mix: cross_channel.Mix,
    done: dict[str, dict[str, int]],
    again: dict[str, cross_channel.Recontacts],
    _now: datetime,
) -> dict[str, Any]:
    contacts = sum(r.contacts for r in again.values())
    recontacted = sum(r.recontacted for r in again.values())
    by_agents = sum(per_channel.get("agent", 0) for per_channel in done.values())
    uses = sum(sum(per_channel.values()) for per_channel in done.values())
    return {
        "totals": {
            "contacts": f"{contacts:,}",
            "self-service": share(uses - by_agents, uses),
            "resolved": share(contacts - recontacted, contacts),
        },
        "details": {
            "contacts": "sessions that began in the range",
            "self-service": f"{uses - by_agents:,} self-service uses, {by_agents:,} by agents",
            "resolved": f"{recontacted:,} contacts were followed by another",
        },
        "mix": _mix_chart(mix),
        "deflection": _deflection_chart(done),
        "recontacts": _recontacts_table(again),
        "range_label": deep_dive.range_label(
            f,
            f"chart points per {charts.bucket_name(mix.bucket_seconds)}; re-contacts "
            "are looked for up to 24 h after the range",
        ),
    }


def _cleared() -> dict[str, Any]:
    """The page's own components with nothing in them (see :func:`deep_dive.blank`)."""
    return {
        "mix": charts.empty("", height=MIX_HEIGHT),
        "deflection": charts.empty("", height=DEFLECTION_HEIGHT),
        "recontacts": "",
    }


def _mix_chart(mix: cross_channel.Mix) -> go.Figure:
    """Stacked areas normalised to 100 %, the contact counts in the hover."""
    x = [b.astimezone(SHANGHAI).replace(tzinfo=None) for b in mix.buckets]
    figure = go.Figure()
    for channel in CHANNELS:
        figure.add_trace(
            go.Scatter(
                x=x,
                y=mix.contacts[channel],
                name=CHANNEL_LABELS[channel],
                mode="lines",
                stackgroup="mix",
                groupnorm="percent",
                line={"color": CHANNEL_COLORS[channel], "width": 0.5},
                customdata=mix.contacts[channel],
                hovertemplate="%{y:.1f}% · %{customdata:,} contacts<extra>%{fullData.name}</extra>",
            )
        )
    charts.base_layout(figure, height=MIX_HEIGHT, revision="cross-mix")
    figure.update_layout(hovermode="x unified")
    figure.update_xaxes(title_text=charts.TIME_AXIS_TITLE)
    figure.update_yaxes(title_text="% of contacts", range=[0, 100], ticksuffix="%")
    return figure


def _deflection_chart(done: dict[str, dict[str, int]]) -> go.Figure:
    """100 % bars per function, one segment per channel; agents (red) are the cost to cut."""
    if not done:
        return charts.empty(
            "No self-service function was used in this range", height=DEFLECTION_HEIGHT
        )
    top = sorted(done, key=lambda item: (-done[item].get("agent", 0), item))[:TOP_FUNCTIONS]
    top.reverse()
    figure = go.Figure()
    for channel in CHANNELS:
        counts = [done[item].get(channel, 0) for item in top]
        figure.add_trace(
            go.Bar(
                x=[100 * n / sum(done[item].values()) for n, item in zip(counts, top, strict=True)],
                y=top,
                customdata=counts,
                name=CHANNEL_LABELS[channel],
                orientation="h",
                marker={"color": CHANNEL_COLORS[channel]},
                hovertemplate=(
                    "%{y}: %{x:.1f}% · %{customdata:,} uses<extra>%{fullData.name}</extra>"
                ),
            )
        )
    charts.base_layout(figure, height=DEFLECTION_HEIGHT, revision="cross-deflection")
    figure.update_layout(barmode="stack", bargap=0.25)
    figure.update_xaxes(title_text="% of the function's uses", range=[0, 100], ticksuffix="%")
    return figure


def _recontacts_table(again: dict[str, cross_channel.Recontacts]) -> Any:
    return deep_dive.table(
        ["First channel", "Contacts", "Re-contacted within 24 h", "Resolved first time"],
        [
            [CHANNEL_LABELS.get(c, c), r.contacts, r.recontacted,
             share(r.contacts - r.recontacted, r.contacts)]
            for c, r in again.items()
        ],
        empty="No contacts in this range.",
    )  # fmt: skip


#: The page's refresh, on every control change and every ``deep_dive.REFRESH_MS``.
refresh = deep_dive.register_refresh(
    PREFIX,
    ALLOWED,
    KPIS,
    {
        "mix": Output("cross-chart-mix", "figure"),
        "deflection": Output("cross-chart-deflection", "figure"),
        "recontacts": Output("cross-recontacts", "children"),
    },
    _fetch,
    _nothing,
    lambda f, d, now: _view(f, *d, now),
    _cleared,
)
