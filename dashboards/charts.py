"""Plotly figures in one house style: channel colours, Shanghai time, quiet axes.

Builders take the plain data of :mod:`dashboards.queries` and return figures; they never
query, so a page's callback reads as "query, then draw".
"""

from collections.abc import Mapping, Sequence
from datetime import datetime

import plotly.graph_objects as go

from dashboards.filters import SHANGHAI
from dashboards.labels import CHANNEL_COLORS, CHANNEL_LABELS
from dashboards.queries.volume import Series

FONT = "Inter, 'Segoe UI', 'Helvetica Neue', Arial, sans-serif"
TIME_AXIS_TITLE = "Time (Asia/Shanghai, UTC+8)"


def base_layout(figure: go.Figure, *, height: int, revision: str) -> go.Figure:
    """The shared look; ``revision`` keeps zoom and hidden traces across live refreshes."""
    figure.update_layout(
        height=height,
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"family": FONT, "size": 12, "color": "#1f2933"},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hoverlabel={"font": {"family": FONT}},
        uirevision=revision,
    )
    figure.update_xaxes(gridcolor="#e4e7eb", zeroline=False, automargin=True)
    figure.update_yaxes(gridcolor="#e4e7eb", zeroline=False, automargin=True)
    return figure


def empty(message: str, *, height: int) -> go.Figure:
    """A blank plot area that says why it is blank."""
    figure = base_layout(go.Figure(), height=height, revision="empty")
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.add_annotation(
        text=message,
        showarrow=False,
        font={"size": 14, "color": "#7b8794"},
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
    )
    return figure


def rate_lines(series: Series, *, revision: str, height: int = 360) -> go.Figure:
    """One line per channel: events per minute in each bucket, on Shanghai time."""
    x = [_local(b) for b in series.buckets]
    unit = bucket_name(series.bucket_seconds)
    figure = go.Figure()
    for channel, rates in series.rates.items():
        figure.add_trace(
            go.Scatter(
                x=x,
                y=rates,
                customdata=series.counts[channel],
                name=CHANNEL_LABELS.get(channel, channel),
                mode="lines",
                line={"color": CHANNEL_COLORS.get(channel), "width": 2, "shape": "linear"},
                hovertemplate=(
                    "%{x|%Y-%m-%d %H:%M}<br>%{y:,.1f} events/min"
                    f"<br>%{{customdata:,}} events in the {unit}<extra>%{{fullData.name}}</extra>"
                ),
            )
        )
    base_layout(figure, height=height, revision=revision)
    figure.update_layout(hovermode="x unified")
    figure.update_xaxes(title_text=TIME_AXIS_TITLE)
    figure.update_yaxes(title_text=f"events/minute (mean per {unit})", rangemode="tozero")
    return figure


def stacked_bars(
    split: Mapping[str, Mapping[str, int]],
    labels: Mapping[str, str],
    *,
    channels: Sequence[str],
    revision: str,
    height: int,
) -> go.Figure:
    """Horizontal bars, one per key of ``split``, stacked by channel, largest on top."""
    order = sorted(split, key=lambda key: sum(split[key].values()))
    y = [labels.get(key, key) for key in order]
    figure = go.Figure()
    for channel in channels:
        figure.add_trace(
            go.Bar(
                x=[split[key].get(channel, 0) for key in order],
                y=y,
                name=CHANNEL_LABELS.get(channel, channel),
                orientation="h",
                marker={"color": CHANNEL_COLORS.get(channel)},
                hovertemplate="%{y}: %{x:,} events<extra>%{fullData.name}</extra>",
            )
        )
    base_layout(figure, height=height, revision=revision)
    figure.update_layout(barmode="stack", bargap=0.25, showlegend=False)
    figure.update_xaxes(title_text="events", tickformat=",d")
    return figure


def _local(moment: datetime) -> datetime:
    """Shanghai wall-clock time without tzinfo: Plotly would otherwise draw it in UTC."""
    return moment.astimezone(SHANGHAI).replace(tzinfo=None)


def bucket_name(seconds: int) -> str:
    """``60`` → "minute", ``300`` → "5-minute bucket", ``3600`` → "hour"."""
    if seconds % 86_400 == 0:
        return "day" if seconds == 86_400 else f"{seconds // 86_400}-day bucket"
    if seconds % 3600 == 0:
        return "hour" if seconds == 3600 else f"{seconds // 3600}-hour bucket"
    return "minute" if seconds == 60 else f"{seconds // 60}-minute bucket"
