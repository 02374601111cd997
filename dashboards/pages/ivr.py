"""10086 IVR deep-dive: the menu funnel, self-service containment and the lead-in prompts.

Every number comes from :mod:`dashboards.queries.ivr`, over the calls that started in the
chosen range. Ids are prefixed ``ivr-``; tests read ``ivr-total-<key>``.
"""

from datetime import datetime, timedelta
from typing import Any

import dash
import plotly.graph_objects as go
from clickhouse_driver import Client
from dash import Output, dcc, html

from dashboards import charts, deep_dive
from dashboards.deep_dive import share
from dashboards.filters import VolumeFilter
from dashboards.labels import BRAND_LABELS, CHANNEL_COLORS, PREFECTURE_LABELS
from dashboards.queries import ivr
from dashboards.roles import Role
from schemas.envelope import BRANDS, PREFECTURES

ALLOWED: tuple[Role, ...] = ("analyst",)

dash.register_page(__name__, path="/ivr", name="IVR", title="10086 IVR · channelhub", roles=ALLOWED)


PREFIX = "ivr"
KPIS = ("calls", "self-service", "contained", "zero")
STOPS_HEIGHT = 420
LEAD_IN_HEIGHT = 460
#: Steps shown in the "where calls stop" chart; the table below has them all.
TOP_STOPS = 15
LEAD_IN_LABEL = "(lead-in, no key pressed)"
OUTCOME_COLORS = {
    "Self-served": CHANNEL_COLORS["sms"],
    "Pressed 0": CHANNEL_COLORS["agent"],
    "Hung up": "#7b8794",
}


def layout(**_query: str) -> html.Div:
    """The page skeleton; data arrives through :func:`refresh`, never at import or here."""
    graph = deep_dive.GRAPH_CONFIG
    return deep_dive.page(
        PREFIX,
        "10086 IVR",
        [
            html.Div(
                className="kpis",
                children=[
                    deep_dive.kpi(PREFIX, "calls", "Calls started"),
                    deep_dive.kpi(
                        PREFIX, "self-service", "Ended in self-service", CHANNEL_COLORS["sms"]
                    ),
                    deep_dive.kpi(
                        PREFIX,
                        "contained",
                        "Contained (no contact for 24 h)",
                        CHANNEL_COLORS["ivr"],
                    ),
                    deep_dive.kpi(
                        PREFIX, "zero", "Pressed 0 for an agent", CHANNEL_COLORS["agent"]
                    ),
                ],
            ),
            html.Div(
                className="split",
                children=[
                    deep_dive.card(
                        f"Where calls stop in the menu (top {TOP_STOPS} steps, calls)",
                        dcc.Graph(id="ivr-chart-stops", config=graph),
                    ),
                    deep_dive.card(
                        "Lead-in prompts: share of calls that pressed 0",
                        dcc.Graph(id="ivr-chart-lead-in", config=graph),
                    ),
                ],
            ),
            deep_dive.card(
                "Menu funnel by key path",
                html.P(
                    "Each step is a key path and the item it led to (branches order the items "
                    "of keys 2 and 3 differently). Calls that stopped at a step went no deeper.",
                    className="card-note",
                ),
                html.Div(id="ivr-funnel", className="table-scroll"),
            ),
        ],
    )


def _fetch(
    client: Client, f: VolumeFilter, now: datetime
) -> tuple[list[ivr.Step], list[ivr.LeadIn], ivr.Containment]:
    return (
        ivr.funnel(client, f.start, f.end),
        ivr.lead_ins(client, f.start, f.end),
        ivr.containment(client, f.start, f.end, now),
    )


def _nothing(found: tuple[Any, Any, ivr.Containment]) -> deep_dive.Nothing | None:
    return None if found[2].calls else deep_dive.Nothing("IVR calls", ("ivr",))


def _view(
    f: VolumeFilter,
    steps: list[ivr.Step],
    variants: list[ivr.LeadIn],
    contained: ivr.Containment,
    _now: datetime,
) -> dict[str, Any]:
    calls = contained.calls
    zero = sum(v.pressed_zero for v in variants)
    return {
        "totals": {
            "calls": f"{calls:,}",
            "self-service": f"{contained.self_service:,}",
            "contained": f"{contained.contained:,}",
            "zero": f"{zero:,}",
        },
        "details": {
            "calls": f"{calls / ((f.end - f.start).total_seconds() / 3600):,.1f} calls/hour",
            "self-service": f"{share(contained.self_service, calls)} of calls",
            "contained": (
                f"{share(contained.contained, calls)} of calls · "
                f"{contained.still_open:,} still inside their 24 h"
            ),
            "zero": f"{share(zero, calls)} of calls",
        },
        "stops": _stops_chart(steps),
        "lead_in": _lead_in_chart(variants),
        "funnel": _funnel_table(steps),
        "range_label": deep_dive.range_label(
            f, f"calls that started in the range, followed for up to {_hours(ivr.FOLLOW)} h"
        ),
    }


def _cleared() -> dict[str, Any]:
    """The page's own components with nothing in them (see :func:`deep_dive.blank`)."""
    return {
        "stops": charts.empty("", height=STOPS_HEIGHT),
        "lead_in": charts.empty("", height=LEAD_IN_HEIGHT),
        "funnel": "",
    }


def _step_label(step: ivr.Step) -> str:
    return f"{step.key_path} {step.item}" if step.key_path else LEAD_IN_LABEL


def _stops_chart(steps: list[ivr.Step]) -> go.Figure:
    """Stacked bars: the steps most calls stopped at, and how those calls ended there."""
    top = sorted(steps, key=lambda s: s.stopped, reverse=True)[:TOP_STOPS][::-1]
    y = [_step_label(s) for s in top]
    figure = go.Figure()
    for name, values in (
        ("Self-served", [s.self_served for s in top]),
        ("Pressed 0", [s.pressed_zero for s in top]),
        ("Hung up", [s.hung_up for s in top]),
    ):
        figure.add_trace(
            go.Bar(
                x=values,
                y=y,
                name=name,
                orientation="h",
                marker={"color": OUTCOME_COLORS[name]},
                hovertemplate="%{y}: %{x:,} calls<extra>%{fullData.name}</extra>",
            )
        )
    charts.base_layout(figure, height=STOPS_HEIGHT, revision="ivr-stops")
    figure.update_layout(barmode="stack", bargap=0.25)
    figure.update_xaxes(title_text="calls that went no deeper", tickformat=",d")
    return figure


def _lead_in_chart(variants: list[ivr.LeadIn]) -> go.Figure:
    """Prefecture by (brand, busy/idle): each cell one lead-in variant's pressed-0 share."""
    columns = [(b, busy) for b in BRANDS for busy in (False, True)]
    cells = {(v.prefecture, v.brand, v.busy): v for v in variants}
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    for prefecture in PREFECTURES:
        z.append([])
        text.append([])
        hover.append([])
        for brand, busy in columns:
            v = cells.get((prefecture, brand, busy))
            z[-1].append(v.pressed_zero / v.calls if v else None)
            text[-1].append(f"{v.pressed_zero / v.calls:.0%}" if v else "")
            hover[-1].append(
                f"{v.variant}: {v.calls:,} calls, {share(v.pressed_zero, v.calls)} pressed 0, "
                f"{share(v.self_served, v.calls)} self-served"
                if v
                else "no calls"
            )
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"{BRAND_LABELS[b]} {'busy' if busy else 'idle'}" for b, busy in columns],
            y=[PREFECTURE_LABELS[p] for p in PREFECTURES],
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{y} · %{x}<br>%{customdata}<extra></extra>",
            colorscale="OrRd",
            zmin=0,
            colorbar={"title": {"text": "pressed 0"}, "tickformat": ".0%"},
        )
    )
    charts.base_layout(figure, height=LEAD_IN_HEIGHT, revision="ivr-lead-in")
    figure.update_yaxes(autorange="reversed")
    return figure


def _funnel_table(steps: list[ivr.Step]) -> Any:
    return deep_dive.table(
        ["Key path", "Item", "Calls reached", "Went deeper", "Self-served", "Pressed 0",
         "Hung up", "Abandoned in queue"],
        [
            [s.key_path or LEAD_IN_LABEL, s.item, s.reached, s.went_deeper, s.self_served,
             s.pressed_zero, s.hung_up, s.abandoned]
            for s in steps
        ],
        empty="No menu steps in this range.",
        limit=None,  # the whole menu: every step, as deep as callers went
    )  # fmt: skip


def _hours(span: timedelta) -> int:
    return int(span.total_seconds() // 3600)


#: The page's refresh, on every control change and every ``deep_dive.REFRESH_MS``.
refresh = deep_dive.register_refresh(
    PREFIX,
    ALLOWED,
    KPIS,
    {
        "stops": Output("ivr-chart-stops", "figure"),
        "lead_in": Output("ivr-chart-lead-in", "figure"),
        "funnel": Output("ivr-funnel", "children"),
    },
    _fetch,
    _nothing,
    lambda f, d, now: _view(f, *d, now),
    _cleared,
)
