"""What the channel deep-dive pages share: the time-range controls, the step from controls to a
checked range, the refresh that turns them into the page (:func:`register_refresh`, on the
one refresh path of :mod:`dashboards.refresh`), and the pieces every page lays out the same
way (KPI cards, tables, messages).

The range goes through :func:`dashboards.filters.from_controls`, the same whitelist as the
volume page, so a bad or out-of-range date becomes a message and no query runs. Component ids
are ``<prefix>-...`` with the page's prefix, as on the volume page.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar

from clickhouse_driver import Client
from dash import Input, Output, State, dcc, html

from dashboards import refresh as page_refresh
from dashboards.filters import (
    DEFAULT_PRESET,
    SHANGHAI,
    VolumeFilter,
    from_controls,
    preset_range,
)
from dashboards.queries.cross_channel import last_seen
from dashboards.roles import Role, callback

T = TypeVar("T")

NOTHING = "—"
TIME_FORMAT = "%Y-%m-%d %H:%M"
#: Deep dives scan raw events: refreshed on every control change, and this often besides.
REFRESH_MS = 60_000
GRAPH_CONFIG: dcc.Graph.Config = {"displayModeBar": False}
RANGE_OPTIONS = [
    {"label": "Last 1 h", "value": "1h"},
    {"label": "6 h", "value": "6h"},
    {"label": "24 h", "value": "24h"},
    {"label": "7 d", "value": "7d"},
    {"label": "Custom", "value": "custom"},
]


def page(prefix: str, title: str, body: Sequence[Any]) -> html.Div:
    """Title, range controls, range label and status line, then ``body``; as the volume page."""
    return html.Div(
        className=prefix,
        children=[
            html.Div(
                className="page-title",
                children=[
                    html.H1(title),
                    html.Span(id=f"{prefix}-updated", className="page-updated"),
                ],
            ),
            _range_bar(prefix),
            html.Div(id=f"{prefix}-range-label", className="range-label"),
            html.Div(id=f"{prefix}-status", className="status"),
            *body,
            dcc.Interval(id=f"{prefix}-interval", interval=REFRESH_MS),
        ],
    )


def _range_bar(prefix: str) -> html.Div:
    return html.Div(className="filters", children=range_controls(prefix))


def range_controls(prefix: str) -> list[html.Div]:
    """The preset radio (``<prefix>-range``) and the custom from/to inputs, hidden until
    "Custom" is picked; :func:`register_custom_range` wires them."""
    return [
        html.Div(
            className="filter",
            children=[
                html.Span("Time range"),
                dcc.RadioItems(
                    id=f"{prefix}-range",
                    options=RANGE_OPTIONS,
                    value=DEFAULT_PRESET,
                    inline=True,
                    className="segmented",
                ),
            ],
        ),
        html.Div(
            id=f"{prefix}-custom",
            className="filter custom",
            style={"display": "none"},
            children=[
                html.Span("From, to (Asia/Shanghai)"),
                html.Div(
                    className="custom-inputs",
                    children=[
                        dcc.Input(
                            id=f"{prefix}-start",
                            type="text",
                            debounce=True,
                            placeholder="2026-05-01 08:00",
                        ),
                        dcc.Input(
                            id=f"{prefix}-end",
                            type="text",
                            debounce=True,
                            placeholder="2026-05-01 20:00",
                        ),
                    ],
                ),
            ],
        ),
    ]


def register_custom_range(prefix: str, roles: tuple[Role, ...]) -> None:
    """Show the custom inputs only for "Custom", pre-filled with the last day to edit; a
    callback for the users with ``roles``, those of the calling page.

    Not called on page load, where the inputs start hidden and empty: the page's refresh
    takes the inputs' values, so an initial call here would hold the first query back until
    a round trip had returned them unchanged.
    """

    def show_custom_range(preset: str, start: str | None, end: str | None) -> tuple[Any, ...]:
        if preset != "custom":
            return {"display": "none"}, start, end
        if not start and not end:
            first, last = preset_range("24h", datetime.now(UTC))
            start, end = local(first), local(last)
        return {}, start, end

    callback(
        Output(f"{prefix}-custom", "style"),
        Output(f"{prefix}-start", "value"),
        Output(f"{prefix}-end", "value"),
        Input(f"{prefix}-range", "value"),
        State(f"{prefix}-start", "value"),
        State(f"{prefix}-end", "value"),
        prevent_initial_call=True,
        roles=roles,
    )(show_custom_range)


def range_inputs(prefix: str) -> dict[str, Input]:
    """The callback inputs :func:`checked_range` takes, plus the refresh tick."""
    return {
        "preset": Input(f"{prefix}-range", "value"),
        "start_text": Input(f"{prefix}-start", "value"),
        "end_text": Input(f"{prefix}-end", "value"),
        "_tick": Input(f"{prefix}-interval", "n_intervals"),
    }


def checked_range(
    preset: str | None, start_text: str | None, end_text: str | None, now: datetime
) -> VolumeFilter:
    """The range the controls describe, or :class:`~dashboards.filters.FilterError`."""
    return from_controls(
        channels=None,
        prefectures=None,
        brands=None,
        preset=preset,
        start_text=start_text,
        end_text=end_text,
        now=now,
    )


class Nothing(NamedTuple):
    """What a page found none of in the range (``what``), and on which channels to look for
    the newest event instead, so the message can say whether the range is just too early."""

    what: str
    channels: tuple[str, ...]


def blank(
    kpis: Iterable[str], message: str, now: datetime, status_class: str, cleared: Mapping[str, Any]
) -> dict[str, Any]:
    """Every number cleared and ``message`` shown: stale numbers must not pass for current.
    ``cleared`` holds the page's own components, empty."""
    keys = tuple(kpis)
    return {
        "totals": dict.fromkeys(keys, NOTHING),
        "details": dict.fromkeys(keys, ""),
        **cleared,
        "status": message,
        "status_class": status_class,
        "range_label": "",
        "updated": updated(now),
    }


@dataclass(frozen=True)
class Found(Generic[T]):
    """What a deep dive read: its data, what it found none of, and the newest such event."""

    data: T
    empty: Nothing | None
    last_seen: datetime | None


def outputs(prefix: str, kpis: Iterable[str], **components: Output) -> dict[str, Any]:
    """A range page's refresh outputs: the KPI cards of :func:`kpi`, the page's own
    ``components`` by key, the status line, the range label and the update time."""
    return {
        "totals": {k: Output(f"{prefix}-total-{k}", "children") for k in kpis},
        "details": {k: Output(f"{prefix}-detail-{k}", "children") for k in kpis},
        **components,
        "status": Output(f"{prefix}-status", "children"),
        "status_class": Output(f"{prefix}-status", "className"),
        "range_label": Output(f"{prefix}-range-label", "children"),
        "updated": Output(f"{prefix}-updated", "children"),
    }


def register_refresh(
    prefix: str,
    roles: tuple[Role, ...],
    kpis: Sequence[str],
    components: Mapping[str, Output],
    fetch: Callable[[Client, VolumeFilter, datetime], T],
    nothing: Callable[[T], Nothing | None],
    view: Callable[[VolumeFilter, T, datetime], dict[str, Any]],
    cleared: Callable[[], dict[str, Any]],
) -> Callable[..., dict[str, Any]]:
    """Wire a deep-dive page for the users with ``roles``: its custom range, and its refresh
    on every control change and tick into :func:`outputs`. Returns the refresh, which tests
    call with the controls.

    The refresh is :func:`dashboards.refresh.refresh` over the checked range: ``fetch``, then
    ``view`` fills the KPI cards, the page's ``components`` and the range label. A range that
    ``nothing`` finds empty is :func:`blank` like a problem, saying whether the range is just
    too early; ``cleared`` gives the page's components, empty.
    """
    register_custom_range(prefix, roles)

    def read(client: Client, f: VolumeFilter, now: datetime) -> Found[T]:
        data = fetch(client, f, now)
        empty = nothing(data)
        return Found(data, empty, last_seen(client, *empty.channels) if empty else None)

    def problem(message: str, now: datetime, status_class: str) -> dict[str, Any]:
        return blank(kpis, message, now, status_class, cleared())

    def shown(f: VolumeFilter, found: Found[T], now: datetime) -> dict[str, Any]:
        if found.empty:
            return problem(why_empty(found.empty.what, f, found.last_seen), now, "status empty")
        return {**view(f, found.data, now), "status": "", "status_class": "status",
                "updated": updated(now)}  # fmt: skip

    def refresh(_tick: int | None, **controls: Any) -> dict[str, Any]:
        def check(now: datetime) -> VolumeFilter:
            return checked_range(**controls, now=now)

        return page_refresh.refresh(prefix, check, read, shown, problem)

    callback(output=outputs(prefix, kpis, **components), inputs=range_inputs(prefix), roles=roles)(
        refresh
    )
    return refresh


def kpi(prefix: str, key: str, label: str, color: str = "#1f2933") -> html.Div:
    """A KPI card; the callback fills ``<prefix>-total-<key>`` and ``<prefix>-detail-<key>``."""
    return html.Div(
        className="kpi",
        style={"borderTopColor": color},
        children=[
            html.Div(label, className="kpi-label"),
            html.Div(NOTHING, id=f"{prefix}-total-{key}", className="kpi-value"),
            html.Div(id=f"{prefix}-detail-{key}", className="kpi-detail"),
        ],
    )


def card(title: str, *children: Any) -> html.Section:
    return html.Section(className="card", children=[html.H2(title), *children])


#: Rows a table shows at most: nobody reads past the first hundred, and the browser's time
#: grows with every row.
MAX_ROWS = 100


#: Every ASCII punctuation mark → its numeric character reference.
_REFERENCES = {c: f"&#{c};" for c in range(0x21, 0x7F) if not chr(c).isalnum()}


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    empty: str,
    limit: int | None = MAX_ROWS,
    row_ids: Sequence[str] | None = None,
) -> dcc.Markdown | html.P | html.Div:
    """A plain table, counts right-aligned with separators; ``empty`` says why there are none.
    Only the first ``limit`` rows are drawn (callers order them most important first), with a
    line saying how many more there are; ``None`` draws every row, for tables the product
    bounds (the IVR menu). ``row_ids`` give each row an element id (for links and tests).

    The table is one component holding the table's HTML, not a component per cell: Dash's
    renderer spends milliseconds on each component, so a 100-row table of ``html.Td`` took the
    browser over a second to draw, and this draws in a few milliseconds. Every header and cell
    goes through :func:`_text` on one line (a blank line would end the HTML block and
    hand the rest to Markdown), so a cell's text can never become markup.
    """
    if not rows:
        return html.P(empty, className="table-empty")
    if limit is not None and len(rows) > limit:
        more = len(rows) - limit
        return html.Div(
            [
                table(
                    headers,
                    rows[:limit],
                    empty=empty,
                    limit=limit,
                    row_ids=None if row_ids is None else row_ids[:limit],
                ),
                html.P(f"… and {more:,} more rows, not shown", className="table-more"),
            ]
        )
    head = "".join(f"<th>{_text(h)}</th>" for h in headers)
    ids = [f' id="{_text(i)}"' for i in row_ids] if row_ids is not None else [""] * len(rows)
    body = "".join(
        f"<tr{i}>" + "".join(_cell(c) for c in row) + "</tr>"
        for i, row in zip(ids, rows, strict=True)
    )
    return dcc.Markdown(
        f'<table class="data-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>',
        dangerously_allow_html=True,
    )


def _cell(cell: Any) -> str:
    if isinstance(cell, int):
        return f'<td class="num">{cell:,}</td>'
    return f"<td>{_text(cell)}</td>"


def _text(value: Any) -> str:
    """``value`` on one line, every ASCII mark a character reference: ``html.escape`` alone is
    not enough, as Dash's Markdown drops a block holding ``${...}`` and would read ``|`` or ``*``
    outside it."""
    return " ".join(str(value).split()).translate(_REFERENCES)


def share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else NOTHING


def range_label(f: VolumeFilter, what: str) -> str:
    return f"{local(f.start)} to {local(f.end)} Asia/Shanghai (UTC+8) · {what}"


def updated(now: datetime) -> str:
    return f"Updated {now.astimezone(SHANGHAI):%H:%M:%S} Asia/Shanghai"


def local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime(TIME_FORMAT)


def why_empty(what: str, f: VolumeFilter, last_seen: datetime | None) -> str:
    """Why a range shows nothing: the channel is silent altogether, or only in this range."""
    if last_seen is None:
        return (
            f"No {what} in ClickHouse yet — is the simulator running? "
            "`channelhub up` starts it with a day of history."
        )
    return (
        f"No {what} from {local(f.start)} to {local(f.end)}. The newest are from "
        f"{local(last_seen)} (Asia/Shanghai): widen the range."
    )
