"""24h kiosks deep-dive: sessions and payments per prefecture and terminal, and the terminals
that need someone: those that reported faults and those that have gone silent.

Every number comes from :mod:`dashboards.queries.kiosks`. Ids are prefixed ``kiosk-``; tests
read ``kiosk-total-<key>``.
"""

from datetime import datetime
from typing import Any

import dash
import plotly.graph_objects as go
from dash import Output, dcc, html

from dashboards import charts, deep_dive
from dashboards.deep_dive import NOTHING
from dashboards.filters import VolumeFilter
from dashboards.labels import CHANNEL_COLORS, PREFECTURE_LABELS
from dashboards.queries import kiosks
from dashboards.roles import Role

ALLOWED: tuple[Role, ...] = ("analyst",)

dash.register_page(
    __name__, path="/kiosks", name="Kiosks", title="24h kiosks · channelhub", roles=ALLOWED
)


PREFIX = "kiosk"
KPIS = ("sessions", "paid", "terminals", "attention")
CHART_HEIGHT = 440
LOOKBACK_DAYS = kiosks.LOOKBACK.days


def layout(**_query: str) -> html.Div:
    """The page skeleton; data arrives through :func:`refresh`, never at import or here."""
    color = CHANNEL_COLORS["kiosk"]
    return deep_dive.page(
        PREFIX,
        "24h kiosks",
        [
            html.Div(
                className="kpis",
                children=[
                    deep_dive.kpi(PREFIX, "sessions", "Kiosk sessions", color),
                    deep_dive.kpi(PREFIX, "paid", "Payments (CNY)", color),
                    deep_dive.kpi(PREFIX, "terminals", "Terminals in use"),
                    deep_dive.kpi(PREFIX, "attention", "Faulty or silent", CHANNEL_COLORS["agent"]),
                ],
            ),
            html.Div(
                className="split",
                children=[
                    deep_dive.card(
                        "Sessions by prefecture",
                        dcc.Graph(id="kiosk-chart-prefecture", config=deep_dive.GRAPH_CONFIG),
                    ),
                    deep_dive.card(
                        "By prefecture", html.Div(id="kiosk-prefectures", className="table-scroll")
                    ),
                ],
            ),
            deep_dive.card(
                "Terminals that need attention",
                html.P(
                    f"Faults reported in the range, and terminals seen in the last "
                    f"{LOOKBACK_DAYS} days with no session in the range (silent).",
                    className="card-note",
                ),
                html.Div(id="kiosk-attention", className="table-scroll"),
            ),
        ],
    )


def _view(f: VolumeFilter, terminals: list[kiosks.Terminal], _now: datetime) -> dict[str, Any]:
    sessions = sum(t.sessions for t in terminals)
    payments = sum(t.payments for t in terminals)
    paid_fen = sum(t.paid_fen for t in terminals)
    active = sum(not t.silent for t in terminals)
    attention = [t for t in terminals if t.faults or t.silent]
    return {
        "totals": {
            "sessions": f"{sessions:,}",
            "paid": _yuan(paid_fen),
            "terminals": f"{active:,}",
            "attention": f"{len(attention):,}",
        },
        "details": {
            "sessions": f"{sessions / max(active, 1):,.1f} per terminal in use",
            "paid": f"{payments:,} payments",
            "terminals": f"of {len(terminals):,} seen in the last {LOOKBACK_DAYS} days",
            "attention": (
                f"{sum(t.faults > 0 for t in terminals):,} with faults · "
                f"{sum(t.silent for t in terminals):,} silent"
            ),
        },
        "chart": _prefecture_chart(terminals),
        "prefectures": _prefecture_table(terminals),
        "attention": _attention_table(attention),
        "range_label": deep_dive.range_label(f, "payments in CNY (yuan)"),
    }


def _cleared() -> dict[str, Any]:
    """The page's own components with nothing in them (see :func:`deep_dive.blank`)."""
    return {
        "chart": charts.empty("", height=CHART_HEIGHT),
        "prefectures": "",
        "attention": "",
    }


def _prefecture_chart(terminals: list[kiosks.Terminal]) -> go.Figure:
    split = kiosks.by_prefecture(terminals)
    order = sorted(split, key=lambda p: split[p].sessions)
    figure = go.Figure(
        go.Bar(
            x=[split[p].sessions for p in order],
            y=[PREFECTURE_LABELS.get(p, p) for p in order],
            customdata=[_yuan(split[p].paid_fen) for p in order],
            orientation="h",
            marker={"color": CHANNEL_COLORS["kiosk"]},
            hovertemplate="%{y}: %{x:,} sessions · CNY %{customdata} paid<extra></extra>",
        )
    )
    charts.base_layout(figure, height=CHART_HEIGHT, revision="kiosk-prefecture")
    figure.update_xaxes(title_text="sessions", tickformat=",d")
    return figure


def _prefecture_table(terminals: list[kiosks.Terminal]) -> Any:
    return deep_dive.table(
        ["Prefecture", "Terminals", "In use", "Sessions", "Payments", "Paid (CNY)", "Faults"],
        [
            [PREFECTURE_LABELS.get(p, p), row.terminals, row.active, row.sessions,
             row.payments, _yuan(row.paid_fen), row.faults]
            for p, row in kiosks.by_prefecture(terminals).items()
        ],
        empty="No kiosk events in this range.",
    )  # fmt: skip


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def _attention_table(attention: list[kiosks.Terminal]) -> Any:
    """Most faults first, then the quietest."""
    return deep_dive.table(
        ["Terminal", "Prefecture", "Faults", "Last fault", "Sessions",
         "Last event (Asia/Shanghai)"],
        [
            [t.terminal, PREFECTURE_LABELS.get(t.prefecture, t.prefecture), t.faults,
             t.last_fault or NOTHING, t.sessions, deep_dive.local(t.last_event)]
            for t in sorted(attention, key=lambda t: (-t.faults, t.sessions, t.terminal))
        ],
        empty="Every terminal had sessions and reported no fault in this range.",
    )  # fmt: skip


#: The page's refresh, on every control change and every ``deep_dive.REFRESH_MS``.
refresh = deep_dive.register_refresh(
    PREFIX,
    ALLOWED,
    KPIS,
    {
        "chart": Output("kiosk-chart-prefecture", "figure"),
        "prefectures": Output("kiosk-prefectures", "children"),
        "attention": Output("kiosk-attention", "children"),
    },
    lambda client, f, _now: kiosks.terminals(client, f.start, f.end),
    lambda found: None if found else deep_dive.Nothing("kiosk events", ("kiosk",)),
    _view,
    _cleared,
)
