"""Web and WAP halls deep-dive: the functions people use, and numbers chosen online that are
activated at a business hall within 48 hours.

Every number comes from :mod:`dashboards.queries.online`. Ids are prefixed ``online-``; tests
read ``online-total-<key>``.
"""

from datetime import datetime
from typing import Any

import dash
import plotly.graph_objects as go
from clickhouse_driver import Client
from dash import Output, dcc, html

from dashboards import charts, deep_dive
from dashboards.deep_dive import share
from dashboards.filters import VolumeFilter
from dashboards.labels import CHANNEL_COLORS, CHANNEL_LABELS
from dashboards.queries import online
from dashboards.roles import Role

ALLOWED: tuple[Role, ...] = ("analyst",)

dash.register_page(
    __name__,
    path="/online",
    name="Web & WAP",
    title="Web and WAP halls · channelhub",
    roles=ALLOWED,
)


PREFIX = "online"
KPIS = ("web", "wap", "reserved", "activated")
TOP_FUNCTIONS = 15
CHART_HEIGHT = 460
WINDOW_H = int(online.ACTIVATION_WINDOW.total_seconds() // 3600)


def layout(**_query: str) -> html.Div:
    """The page skeleton; data arrives through :func:`refresh`, never at import or here."""
    return deep_dive.page(
        PREFIX,
        "Web and WAP halls",
        [
            html.Div(
                className="kpis",
                children=[
                    deep_dive.kpi(PREFIX, "web", "Web hall function uses", CHANNEL_COLORS["web"]),
                    deep_dive.kpi(PREFIX, "wap", "WAP hall function uses", CHANNEL_COLORS["wap"]),
                    deep_dive.kpi(PREFIX, "reserved", "Numbers reserved online"),
                    deep_dive.kpi(PREFIX, "activated", f"Activated within {WINDOW_H} h"),
                ],
            ),
            html.Div(
                className="split",
                children=[
                    deep_dive.card(
                        f"Top {TOP_FUNCTIONS} functions (uses)",
                        dcc.Graph(id="online-chart-functions", config=deep_dive.GRAPH_CONFIG),
                    ),
                    deep_dive.card(
                        "Every function used",
                        html.Div(id="online-functions", className="table-scroll"),
                    ),
                ],
            ),
        ],
    )


def _fetch(client: Client, f: VolumeFilter, now: datetime) -> tuple[Any, online.Reservations]:
    return online.functions(client, f.start, f.end), online.reservations(client, f.start, f.end,
                                                                         now)  # fmt: skip


def _nothing(found: tuple[Any, online.Reservations]) -> deep_dive.Nothing | None:
    used, numbers = found
    if used or numbers.reserved:
        return None
    return deep_dive.Nothing("web or WAP hall use", online.HALLS)


def _view(
    f: VolumeFilter, used: list[online.Function], numbers: online.Reservations, _now: datetime
) -> dict[str, Any]:
    uses = {hall: sum(u.uses for u in used if u.hall == hall) for hall in online.HALLS}
    functions = {hall: sum(u.hall == hall for u in used) for hall in online.HALLS}
    return {
        "totals": {
            "web": f"{uses['web']:,}",
            "wap": f"{uses['wap']:,}",
            "reserved": f"{numbers.reserved:,}",
            "activated": f"{numbers.in_time:,}",
        },
        "details": {
            "web": f"{functions['web']:,} different functions",
            "wap": f"{functions['wap']:,} different functions",
            "reserved": f"{numbers.waiting:,} still inside their {WINDOW_H} h",
            "activated": (
                f"{share(numbers.in_time, numbers.reserved)} of reservations · "
                f"{numbers.lapsed:,} lapsed"
            ),
        },
        "chart": _functions_chart(used),
        "functions": deep_dive.table(
            ["Hall", "Function", "Uses", "Subscribers"],
            [[CHANNEL_LABELS[u.hall], u.function, u.uses, u.users] for u in used],
            empty="No function was used in either hall in this range.",
        ),
        "range_label": deep_dive.range_label(
            f, f"reservations made in the range, followed for {WINDOW_H} h"
        ),
    }


def _cleared() -> dict[str, Any]:
    """The page's own components with nothing in them (see :func:`deep_dive.blank`)."""
    return {
        "chart": charts.empty("", height=CHART_HEIGHT),
        "functions": "",
    }


def _functions_chart(used: list[online.Function]) -> go.Figure:
    """Grouped bars, one per hall, for the functions used most across both."""
    totals: dict[str, int] = {}
    for u in used:
        totals[u.function] = totals.get(u.function, 0) + u.uses
    top = sorted(totals, key=lambda name: (-totals[name], name))[:TOP_FUNCTIONS][::-1]
    counts = {(u.hall, u.function): u.uses for u in used}
    figure = go.Figure()
    for hall in online.HALLS:
        figure.add_trace(
            go.Bar(
                x=[counts.get((hall, name), 0) for name in top],
                y=top,
                name=CHANNEL_LABELS[hall],
                orientation="h",
                marker={"color": CHANNEL_COLORS[hall]},
                hovertemplate="%{y}: %{x:,} uses<extra>%{fullData.name}</extra>",
            )
        )
    charts.base_layout(figure, height=CHART_HEIGHT, revision="online-functions")
    figure.update_layout(barmode="group", bargap=0.2)
    figure.update_xaxes(title_text="uses", tickformat=",d")
    return figure


#: The page's refresh, on every control change and every ``deep_dive.REFRESH_MS``.
refresh = deep_dive.register_refresh(
    PREFIX,
    ALLOWED,
    KPIS,
    {
        "chart": Output("online-chart-functions", "figure"),
        "functions": Output("online-functions", "children"),
    },
    _fetch,
    _nothing,
    lambda f, d, now: _view(f, *d, now),
    _cleared,
)
