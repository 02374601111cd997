"""SMS hall deep-dive: commands, how texts are matched, unknown texts, two-step confirmation.

Every number comes from :mod:`dashboards.queries.sms_hall`; each code is labelled with the
service the live service catalogue gives it (:mod:`dashboards.live_catalogue`), so an opened
code shows under its service and a retired one still labels its history. Ids are prefixed
``sms-``; tests read ``sms-total-<key>``.
"""

from datetime import datetime
from typing import Any

import dash
import plotly.graph_objects as go
from clickhouse_driver import Client
from dash import Output, dcc, html

from dashboards import charts, db, deep_dive, live_catalogue
from dashboards.deep_dive import share
from dashboards.filters import VolumeFilter
from dashboards.labels import CHANNEL_COLORS
from dashboards.queries import sms_hall
from dashboards.roles import Role
from dashboards.service_names import ServiceNames

ALLOWED: tuple[Role, ...] = ("analyst",)

dash.register_page(
    __name__, path="/sms-hall", name="SMS hall", title="SMS hall · channelhub", roles=ALLOWED
)


PREFIX = "sms"
KPIS = ("texts", "matched", "unknown", "confirmed")
CHART_HEIGHT = 340
TOP_COMMANDS = 12
UNKNOWN_SAMPLES = 25
#: Long texts are cut for the table; the count still covers the whole text.
SHOWN_CHARS = 120
KIND_LABELS = {
    "exact": "Exact code",
    "menu": "Menu step",
    "fuzzy": "Fuzzy keyword",
    "unknown": "Unknown",
}
KIND_COLORS = {"exact": "#009E73", "menu": "#56B4E9", "fuzzy": "#E69F00", "unknown": "#D55E00"}


def layout(**_query: str) -> html.Div:
    """The page skeleton; data arrives through :func:`refresh`, never at import or here."""
    graph = deep_dive.GRAPH_CONFIG
    return deep_dive.page(
        PREFIX,
        "SMS hall",
        [
            html.Div(
                className="kpis",
                children=[
                    deep_dive.kpi(PREFIX, "texts", "Texts received", CHANNEL_COLORS["sms"]),
                    deep_dive.kpi(PREFIX, "matched", "Matched a command"),
                    deep_dive.kpi(PREFIX, "unknown", "Not understood", KIND_COLORS["unknown"]),
                    deep_dive.kpi(PREFIX, "confirmed", "Confirmations done"),
                ],
            ),
            html.Div(
                className="split",
                children=[
                    deep_dive.card(
                        f"Top {TOP_COMMANDS} commands (texts)",
                        dcc.Graph(id="sms-chart-commands", config=graph),
                    ),
                    deep_dive.card(
                        "How texts were matched (texts)",
                        dcc.Graph(id="sms-chart-kinds", config=graph),
                    ),
                ],
            ),
            html.Div(
                className="split",
                children=[
                    deep_dive.card(
                        "Two-step confirmation: prompt → reply → done",
                        html.Div(id="sms-confirmations", className="table-scroll"),
                    ),
                    deep_dive.card(
                        "Confirmation funnel (dialogues)",
                        dcc.Graph(id="sms-chart-funnel", config=graph),
                    ),
                ],
            ),
            deep_dive.card(
                f"Texts nothing matched: the {UNKNOWN_SAMPLES} most frequent",
                html.P(
                    f"Runs of {sms_hall.MASKED_DIGITS} or more digits are shown as "
                    f"{sms_hall.MASK}; senders are counted, never shown.",
                    className="card-note",
                ),
                html.Div(id="sms-unknown", className="table-scroll"),
            ),
        ],
    )


def _fetch(client: Client, f: VolumeFilter, _now: datetime) -> tuple[Any, Any, Any, Any]:
    return (
        sms_hall.messages(client, f.start, f.end),
        sms_hall.unknown_texts(client, f.start, f.end, UNKNOWN_SAMPLES),
        sms_hall.confirmations(client, f.start, f.end),
        live_catalogue.names(db.request_settings()),
    )


def _nothing(found: tuple[sms_hall.Messages, Any, Any, Any]) -> deep_dive.Nothing | None:
    return None if found[0].total else deep_dive.Nothing("texts to the SMS hall", ("sms",))


def _view(
    f: VolumeFilter,
    received: sms_hall.Messages,
    unknown: list[sms_hall.UnknownText],
    confirmations: list[sms_hall.Confirmation],
    names: ServiceNames,
    now: datetime,
) -> dict[str, Any]:
    total = received.total
    not_understood = received.by_kind["unknown"]
    matched = total - not_understood
    prompted = sum(c.prompted for c in confirmations)
    done = sum(c.done for c in confirmations)
    return {
        "totals": {
            "texts": f"{total:,}",
            "matched": f"{matched:,}",
            "unknown": f"{not_understood:,}",
            "confirmed": f"{done:,}",
        },
        "details": {
            "texts": f"{total / ((f.end - f.start).total_seconds() / 3600):,.1f} texts/hour",
            "matched": f"{share(matched, total)} of texts",
            "unknown": f"{share(not_understood, total)} of texts",
            "confirmed": f"of {prompted:,} prompts ({share(done, prompted)})",
        },
        "commands": _commands_chart(received, names),
        "kinds": _kinds_chart(received),
        "funnel": _funnel_chart(confirmations),
        "confirmations": _confirmations_table(confirmations, names),
        "unknown": deep_dive.table(
            ["Text (masked)", "Messages", "Senders"],
            [[_cut(u.text), u.messages, u.senders] for u in unknown],
            empty="Every text in this range matched a command, a menu step or a keyword.",
        ),
        "range_label": deep_dive.range_label(
            f,
            f"texts received in the range; confirmations prompted in it, followed for "
            f"{int(sms_hall.FOLLOW.total_seconds() // 60)} min",
        ),
    }


def _cleared() -> dict[str, Any]:
    """The page's own components with nothing in them (see :func:`deep_dive.blank`)."""
    return {
        "commands": charts.empty("", height=CHART_HEIGHT),
        "kinds": charts.empty("", height=CHART_HEIGHT),
        "funnel": charts.empty("", height=CHART_HEIGHT),
        "confirmations": "",
        "unknown": "",
    }


def _commands_chart(received: sms_hall.Messages, names: ServiceNames) -> go.Figure:
    top = received.top_codes(TOP_COMMANDS)[::-1]
    figure = go.Figure(
        go.Bar(
            x=[n for _, n in top],
            y=[f"{code} · {names.code(code)}" for code, _ in top],
            orientation="h",
            marker={"color": CHANNEL_COLORS["sms"]},
            hovertemplate="%{y}: %{x:,} texts<extra></extra>",
        )
    )
    charts.base_layout(figure, height=CHART_HEIGHT, revision="sms-commands")
    figure.update_xaxes(title_text="texts matched to the command", tickformat=",d")
    return figure


def _kinds_chart(received: sms_hall.Messages) -> go.Figure:
    kinds = list(sms_hall.MATCH_KINDS)
    figure = go.Figure(
        go.Bar(
            x=[KIND_LABELS[k] for k in kinds],
            y=[received.by_kind[k] for k in kinds],
            marker={"color": [KIND_COLORS[k] for k in kinds]},
            text=[share(received.by_kind[k], received.total) for k in kinds],
            textposition="outside",
            hovertemplate="%{x}: %{y:,} texts<extra></extra>",
        )
    )
    charts.base_layout(figure, height=CHART_HEIGHT, revision="sms-kinds")
    figure.update_yaxes(title_text="texts", tickformat=",d", rangemode="tozero")
    return figure


def _funnel_chart(confirmations: list[sms_hall.Confirmation]) -> go.Figure:
    if not confirmations:
        return charts.empty(
            "No charged service asked for confirmation in this range", height=CHART_HEIGHT
        )
    stages = {
        "Prompted": sum(c.prompted for c in confirmations),
        "Replied yes": sum(c.yes for c in confirmations),
        "Done": sum(c.done for c in confirmations),
        "Succeeded": sum(c.succeeded for c in confirmations),
    }
    figure = go.Figure(
        go.Funnel(
            y=list(stages),
            x=list(stages.values()),
            textinfo="value+percent initial",
            marker={"color": CHANNEL_COLORS["sms"]},
            hovertemplate="%{y}: %{x:,} dialogues<extra></extra>",
        )
    )
    return charts.base_layout(figure, height=CHART_HEIGHT, revision="sms-funnel")


def _confirmations_table(confirmations: list[sms_hall.Confirmation], names: ServiceNames) -> Any:
    return deep_dive.table(
        ["Command", "Prompted", "Yes", "No", "Timed out", "No reply yet", "Done", "Succeeded"],
        [
            [f"{c.code} · {names.code(c.code)}", c.prompted, c.yes, c.no,
             c.timed_out, c.unanswered, c.done, c.succeeded]
            for c in confirmations
        ],
        empty="No charged service asked for confirmation in this range.",
    )  # fmt: skip


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else f"{text[: SHOWN_CHARS - 1]}…"


#: The page's refresh, on every control change and every ``deep_dive.REFRESH_MS``.
refresh = deep_dive.register_refresh(
    PREFIX,
    ALLOWED,
    KPIS,
    {
        "commands": Output("sms-chart-commands", "figure"),
        "kinds": Output("sms-chart-kinds", "figure"),
        "funnel": Output("sms-chart-funnel", "figure"),
        "confirmations": Output("sms-confirmations", "children"),
        "unknown": Output("sms-unknown", "children"),
    },
    _fetch,
    _nothing,
    lambda f, d, now: _view(f, *d, now),
    _cleared,
)
