"""Channel volume: how many events each self-service channel handles, live.

KPI cards with the exact total per channel, a line of events per minute per channel, the split
by prefecture and by brand, and a pipeline health line. Every number comes from
:mod:`dashboards.queries.volume`; the callbacks only turn controls into a
:class:`~dashboards.filters.VolumeFilter` and results into components. Ids are prefixed
``volume-``; tests read ``volume-total-<channel>`` and ``volume-total-all``.
"""

from datetime import datetime
from typing import Any

import dash
from clickhouse_driver import Client
from dash import Input, Output, dcc, html

from dashboards import charts, db, deep_dive
from dashboards import refresh as page_refresh
from dashboards.deep_dive import NOTHING, local, updated
from dashboards.filters import (
    VolumeFilter,
    from_controls,
)
from dashboards.labels import (
    BRAND_LABELS,
    CHANNEL_COLORS,
    CHANNEL_LABELS,
    NO_BRAND_LABEL,
    PREFECTURE_LABELS,
)
from dashboards.queries import volume as queries
from dashboards.queries.volume import Breakdown, Health, Series
from dashboards.roles import Role, callback
from schemas.envelope import BRANDS, CHANNELS, PREFECTURES

ALLOWED: tuple[Role, ...] = ("analyst", "ops", "marketing")

dash.register_page(
    __name__,
    path="/",
    name="Channel volume",
    title="Channel volume · channelhub",
    roles=ALLOWED,
)


LINE_HEIGHT = 360
PREFECTURE_HEIGHT = 440
BRAND_HEIGHT = 260


def layout(**_query: str) -> html.Div:
    """The page skeleton; data arrives through :func:`refresh`, never at import or here."""
    refresh_s = db.request_settings().dashboard_refresh_seconds
    return html.Div(
        className="volume",
        children=[
            html.Div(
                className="page-title",
                children=[
                    html.H1("Channel volume"),
                    html.Span(id="volume-updated", className="page-updated"),
                ],
            ),
            _filter_bar(),
            html.Div(id="volume-range-label", className="range-label"),
            html.Div(id="volume-status", className="status"),
            html.Div(_kpi_cards(), className="kpis"),
            html.Section(
                className="card",
                children=[
                    html.H2("Events per minute by channel"),
                    dcc.Graph(id="volume-chart-rate", config=deep_dive.GRAPH_CONFIG),
                ],
            ),
            html.Div(
                className="split",
                children=[
                    html.Section(
                        className="card",
                        children=[
                            html.H2("By prefecture"),
                            dcc.Graph(id="volume-chart-prefecture", config=deep_dive.GRAPH_CONFIG),
                        ],
                    ),
                    html.Section(
                        className="card",
                        children=[
                            html.H2("By brand"),
                            dcc.Graph(id="volume-chart-brand", config=deep_dive.GRAPH_CONFIG),
                            _legend(),
                        ],
                    ),
                ],
            ),
            html.Div(id="volume-health", className="health"),
            dcc.Interval(id="volume-interval", interval=int(refresh_s * 1000)),
        ],
    )


def _filter_bar() -> html.Div:
    def dropdown(field: str, placeholder: str, options: list[dict[str, str]]) -> html.Label:
        return html.Label(
            className="filter",
            children=[
                html.Span(field.title()),
                dcc.Dropdown(
                    id=f"volume-filter-{field}",
                    options=options,
                    multi=True,
                    placeholder=placeholder,
                ),
            ],
        )

    return html.Div(
        className="filters",
        children=[
            dropdown(
                "channel",
                "All channels",
                [{"label": CHANNEL_LABELS[c], "value": c} for c in CHANNELS],
            ),
            dropdown(
                "prefecture",
                "All prefectures",
                [{"label": PREFECTURE_LABELS[p], "value": p} for p in PREFECTURES],
            ),
            dropdown(
                "brand", "All brands", [{"label": BRAND_LABELS[b], "value": b} for b in BRANDS]
            ),
            *deep_dive.range_controls("volume"),
        ],
    )


def _kpi_cards() -> list[html.Div]:
    return [
        deep_dive.kpi("volume", "all", "All channels"),
        *(deep_dive.kpi("volume", c, CHANNEL_LABELS[c], CHANNEL_COLORS[c]) for c in CHANNELS),
    ]


def _legend() -> html.Div:
    """One channel legend for both bar charts (their own legends would repeat it)."""
    return html.Div(
        className="legend",
        children=[
            html.Span(
                [html.I(style={"background": CHANNEL_COLORS[c]}), CHANNEL_LABELS[c]],
                className="legend-item",
            )
            for c in CHANNELS
        ],
    )


deep_dive.register_custom_range("volume", ALLOWED)

_KPI_KEYS = ("all", *CHANNELS)


@callback(
    output=deep_dive.outputs(
        "volume",
        _KPI_KEYS,
        rate=Output("volume-chart-rate", "figure"),
        prefecture=Output("volume-chart-prefecture", "figure"),
        brand=Output("volume-chart-brand", "figure"),
        health=Output("volume-health", "children"),
    ),
    inputs={
        "channels": Input("volume-filter-channel", "value"),
        "prefectures": Input("volume-filter-prefecture", "value"),
        "brands": Input("volume-filter-brand", "value"),
        **deep_dive.range_inputs("volume"),
    },
    roles=ALLOWED,
)
def refresh(_tick: int | None, **controls: Any) -> dict[str, Any]:
    """Controls → filter → three queries → components (see :func:`dashboards.refresh.refresh`)."""
    return page_refresh.refresh(
        "volume", lambda now: from_controls(**controls, now=now), _fetch, _view, _blank
    )


def _fetch(client: Client, f: VolumeFilter, now: datetime) -> tuple[Breakdown, Series, Health]:
    return queries.breakdown(client, f), queries.series(client, f), queries.health(client, now)


def _view(f: VolumeFilter, data: tuple[Breakdown, Series, Health], now: datetime) -> dict[str, Any]:
    breakdown, series, health = data
    totals = breakdown.by_channel()
    grand = breakdown.total
    minutes = (f.end - f.start).total_seconds() / 60
    selected = f.channels or CHANNELS
    revision = f.model_dump_json(exclude={"start", "end"})
    totals_out: dict[str, str] = {"all": f"{grand:,}"}
    details_out: dict[str, str] = {"all": f"{grand / minutes:,.1f} events/min on average"}
    for channel in CHANNELS:
        if channel in selected:
            share = totals[channel] / grand if grand else 0.0
            totals_out[channel] = f"{totals[channel]:,}"
            details_out[channel] = f"{share:.1%} · {totals[channel] / minutes:,.1f}/min"
        else:
            totals_out[channel] = NOTHING
            details_out[channel] = "not selected"
    if grand:
        status, status_class = "", "status"
        rate = charts.rate_lines(series, revision=revision, height=LINE_HEIGHT)
        prefecture = charts.stacked_bars(
            breakdown.by_prefecture(),
            PREFECTURE_LABELS,
            channels=selected,
            revision=revision,
            height=PREFECTURE_HEIGHT,
        )
        brand = charts.stacked_bars(
            breakdown.by_brand(),
            {**BRAND_LABELS, "": NO_BRAND_LABEL},
            channels=selected,
            revision=revision,
            height=BRAND_HEIGHT,
        )
    else:
        status, status_class = _why_empty(health), "status empty"
        rate = charts.empty("No events in this range", height=LINE_HEIGHT)
        prefecture = charts.empty("No events", height=PREFECTURE_HEIGHT)
        brand = charts.empty("No events", height=BRAND_HEIGHT)
    return {
        "totals": totals_out,
        "details": details_out,
        "rate": rate,
        "prefecture": prefecture,
        "brand": brand,
        "status": status,
        "status_class": status_class,
        "range_label": _range_label(f),
        "health": _health_line(health),
        "updated": updated(now),
    }


def _blank(message: str, now: datetime, status_class: str) -> dict[str, Any]:
    """Every number cleared and ``message`` shown (see :func:`deep_dive.blank`)."""
    cleared = {
        "rate": charts.empty("", height=LINE_HEIGHT),
        "prefecture": charts.empty("", height=PREFECTURE_HEIGHT),
        "brand": charts.empty("", height=BRAND_HEIGHT),
        "health": "",
    }
    return deep_dive.blank(_KPI_KEYS, message, now, status_class, cleared)


def _why_empty(health: Health) -> str:
    if health.newest_minute is None:
        return (
            "No events in ClickHouse yet — is the simulator running? "
            "`channelhub up` starts it with a day of history."
        )
    return (
        "No events in this range for these filters. The newest data is from "
        f"{local(health.newest_minute)} (Asia/Shanghai): widen the range or clear a filter."
    )


def _health_line(health: Health) -> list[Any]:
    newest = local(health.newest_minute) if health.newest_minute else "never"
    dead = html.Span(
        f"{health.dead_letters:,} dead letters",
        className="warn" if health.dead_letters else "",
    )
    return [
        html.Span("Pipeline ", className="health-title"),
        f"{health.events_last_minute:,} events in the last minute · newest data {newest} · ",
        dead,
    ]


def _range_label(f: VolumeFilter) -> str:
    return (
        f"{local(f.start)} to {local(f.end)} Asia/Shanghai (UTC+8) · chart points per "
        f"{charts.bucket_name(f.bucket_seconds)} · totals are exact event counts"
    )
