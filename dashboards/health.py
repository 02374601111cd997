"""Data health for people reading the numbers: the line in the shell and what feeds the page.

Every page shows one compact, refreshing line (events/s in, completeness, consumer lag, dead
letters) so nobody reads a chart without knowing whether its data is current; the ``/health``
page (:mod:`dashboards.pages.health`) shows the details. Both take one :class:`Report` from
:func:`read`, which gathers :mod:`dashboards.queries.health`: ClickHouse and the broker fail
separately, and what failed is said in place of its numbers, never as a traceback.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dash
from dash import Input, Output, dcc, html

from dashboards import auth, db
from dashboards.filters import SHANGHAI
from dashboards.queries import health as queries
from dashboards.roles import ROLES, callback
from kernel.errors import StorageError
from kernel.settings import Settings

log = logging.getLogger(__name__)

#: The consumer groups whose lag is shown, as ``<group_prefix>-<stage>``.
STAGES = ("validate", "nudges", "sink")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Report:
    now: datetime
    lag: dict[str, int | None]
    """Stage → messages behind; ``None`` when the broker could not tell."""
    events_per_second: float | None = None
    completeness: queries.Completeness | None = None
    dead_letters: list[queries.DeadLetterReason] = field(default_factory=list)
    storage_error: str = ""
    """Why the ClickHouse numbers are missing, when they are."""


def read(settings: Settings, now: datetime) -> Report:
    groups = {stage: f"{settings.group_prefix}-{stage}" for stage in STAGES}
    lag = queries.consumer_lag(settings.kafka_bootstrap, list(groups.values()))
    by_stage = {stage: lag[group] for stage, group in groups.items()}
    try:
        with db.client(settings) as client:
            return Report(
                now=now,
                lag=by_stage,
                events_per_second=queries.events_per_second(client, now),
                completeness=queries.completeness(client, settings.topic_partitions, now),
                dead_letters=queries.dead_letters(client, now - queries.LOOKBACK),
            )
    except StorageError as e:
        log.warning("data health: %s", e)
        return Report(now=now, lag=by_stage, storage_error=str(e))


def local_minute(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def complete_text(report: Report) -> tuple[str, str]:
    """The "complete to" value, and why it is not a time when it is not."""
    c = report.completeness
    if c is None:
        return UNKNOWN, "ClickHouse did not answer"
    if c.complete_through is None:
        partitions = ", ".join(str(p) for p in c.missing_partitions)
        return "not yet", f"no events in the last day on partition {partitions}"
    return local_minute(c.complete_through), ""


def lag_text(lag: int | None) -> str:
    return UNKNOWN if lag is None else f"{lag:,}"


def shell_line(refresh_seconds: float) -> html.Div:
    """The placeholder the shell puts under the header; :func:`refresh_line` fills it."""
    return html.Div(
        className="health-bar",
        children=[
            html.Div(id="health-line"),
            dcc.Interval(id="health-interval", interval=int(refresh_seconds * 1000)),
        ],
    )


def add_line_callback(app: dash.Dash) -> None:
    """Register :func:`refresh_line` on ``app`` itself, so every app built gets its own."""
    callback(
        Output("health-line", "children"),
        Input("health-interval", "n_intervals"),
        roles=ROLES,  # the line is on every page, for everyone signed in
        app=app,
    )(refresh_line)


def refresh_line(_tick: int | None) -> list[Any]:
    report = read(db.request_settings(), datetime.now(UTC))
    dead = sum(r.count for r in report.dead_letters)
    if report.storage_error:
        numbers: list[Any] = [html.Span("ClickHouse unreachable", className="warn")]
    else:
        complete, why = complete_text(report)
        numbers = [
            f"{report.events_per_second or 0:,.1f} events/s in · complete to ",
            html.Span(complete, id="health-complete", title=why),
            " · ",
            html.Span(f"{dead:,} dead letters (24 h)", className="warn" if dead else ""),
        ]
    lag = ", ".join(f"{stage} {lag_text(n)}" for stage, n in report.lag.items())
    details = (
        [" · ", dcc.Link("details", href="/health")]
        if any(p["path"] == "/health" for p in auth.allowed_pages())
        else []
    )
    return [
        html.Span("Data ", className="health-title"),
        *numbers,
        f" · lag {lag}",
        *details,
    ]
