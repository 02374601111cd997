"""Back-test a rule (marketing): what a pasted, uploaded or edited rule file would have done.

The same back-test as ``channelhub rules backtest`` (:func:`channelhub.marketing.backtest.
plan_for` and :func:`channelhub.marketing.history.replay`): the stored events of the last days
folded through the nudge stage's own core and guardrails beside the enabled rules, with the
report the CLI prints. It only reads ClickHouse, as the dashboard's read-only user, a page of
events per query so that days of a province stay inside that user's limits (rows and time) of
every query: nothing is sent and no topic or table is written. A run takes as long as the
fold, so it runs off the request thread (:mod:`dashboards.backtest_jobs`, one job per user)
and the page polls it for progress. Ids are prefixed ``marketing-backtest-``; tests read
``marketing-backtest-error``, ``marketing-backtest-progress`` and
``marketing-backtest-report``.
"""

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dash
from dash import Input, Output, State, ctx, dcc, html

from channelhub.marketing.backtest import (
    DEFAULT_WARMUP_DAYS,
    Backtest,
    plan_for,
    rule_from_text,
    table,
)
from channelhub.marketing.history import replay
from dashboards import auth, db
from dashboards.backtest_jobs import Jobs
from dashboards.roles import Role, callback
from kernel.errors import ChannelhubError
from orchestration.rules import SHIPPED_RULES_DIR, load_rules

ALLOWED: tuple[Role, ...] = ("marketing",)

dash.register_page(
    __name__,
    path="/campaigns/backtest",
    name="Back-test a rule",
    title="Back-test a rule · channelhub",
    roles=ALLOWED,
)

MAX_DAYS = 30
#: How long a finished back-test's report stays available to its user.
KEEP_S = 15 * 60
#: How often the page asks a running back-test how far it is.
POLL_MS = 1000
JOBS = Jobs(keep_s=KEEP_S)


def layout(**_query: str) -> html.Div:
    """The rule editor and the run; nothing is read until a callback asks."""
    return html.Div(
        className="marketing",
        children=[
            html.Div(className="page-title", children=[html.H1("Back-test a rule")]),
            html.Section(className="card", children=_card()),
        ],
    )


def _card() -> list[Any]:
    def field(label: str, control: Any) -> html.Label:
        return html.Label(className="filter", children=[html.Span(label), control])

    return [
        html.H2("Back-test a rule"),
        html.P(
            "Paste or upload a rule file, or start from an enabled rule and edit it; the "
            "back-test runs it over the stored events of the last days beside the enabled "
            "rules. It sends nothing and writes nothing.",
            className="card-note",
        ),
        html.Div(
            className="form",
            children=[
                field(
                    "Start from an enabled rule",
                    dcc.Dropdown(
                        id="marketing-backtest-start",
                        options=[p.name for p in _rule_files()],
                        placeholder="Rule file",
                    ),
                ),
                dcc.Upload(
                    id="marketing-backtest-upload",
                    children=html.Button("Upload a rule file"),
                    accept=".toml",
                ),
                field(
                    "File name",
                    dcc.Input(id="marketing-backtest-name", value="rule.toml", type="text"),
                ),
                field(
                    "Days",
                    dcc.Input(
                        id="marketing-backtest-days",
                        value=7,
                        type="number",
                        min=1,
                        max=MAX_DAYS,
                        step=1,
                    ),
                ),
            ],
        ),
        field(
            "Rule file (TOML)",
            dcc.Textarea(
                id="marketing-backtest-text",
                value="",
                rows=18,
                style={"width": "100%", "fontFamily": "monospace"},
            ),
        ),
        html.Button("Run back-test", id="marketing-backtest-run", n_clicks=0),
        html.Div(id="marketing-backtest-error", className="result"),
        html.Div(id="marketing-backtest-progress", className="result"),
        html.Pre(id="marketing-backtest-report", style={"overflowX": "auto"}),
        dcc.Store(id="marketing-backtest-job"),
        dcc.Interval(id="marketing-backtest-poll", interval=POLL_MS, disabled=True),
    ]


def _rule_files() -> list[Path]:
    """The files of the rules the nudge stage runs, to start an edit from."""
    settings = db.request_settings()
    rules, _errors = load_rules(settings.rules_dir or SHIPPED_RULES_DIR)
    return [Path(r.source) for r in rules if r.enabled]


@callback(
    Output("marketing-backtest-text", "value"),
    Output("marketing-backtest-name", "value"),
    Input("marketing-backtest-start", "value"),
    Input("marketing-backtest-upload", "contents"),
    State("marketing-backtest-upload", "filename"),
    prevent_initial_call=True,
    roles=ALLOWED,
)
def load_text(start: str | None, contents: str | None, filename: str | None) -> tuple[Any, Any]:
    """The chosen rule file's text, or the uploaded file's, into the editor."""
    if ctx.triggered_id == "marketing-backtest-upload" and contents:
        _, _, encoded = contents.partition(",")
        try:
            text = base64.b64decode(encoded).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            text = ""
        return text, Path(filename or "rule.toml").name
    chosen = {p.name: p for p in _rule_files()}.get(start or "")
    if chosen is None:
        return dash.no_update, dash.no_update
    return chosen.read_text(encoding="utf-8"), chosen.name


@callback(
    Output("marketing-backtest-job", "data"),
    Output("marketing-backtest-error", "children"),
    Output("marketing-backtest-poll", "disabled"),
    Input("marketing-backtest-run", "n_clicks"),
    State("marketing-backtest-text", "value"),
    State("marketing-backtest-name", "value"),
    State("marketing-backtest-days", "value"),
    prevent_initial_call=True,
    roles=ALLOWED,
)
def run(_clicks: int, text: str | None, name: str | None, days: Any) -> tuple[Any, str, bool]:
    """Check the rule as the rule loader does, then start the back-test as the user's job."""
    if not isinstance(days, int | float) or not 1 <= days <= MAX_DAYS or days != int(days):
        return dash.no_update, f"Days: a whole number from 1 to {MAX_DAYS}.", True
    try:
        candidate = rule_from_text(text or "", name or "rule.toml")
    except ChannelhubError as e:
        return dash.no_update, str(e), True
    settings = db.request_settings()
    end = datetime.now(UTC).replace(microsecond=0)
    plan, errors = plan_for(
        settings, candidate, days=int(days), end=end, warmup=timedelta(days=DEFAULT_WARMUP_DAYS)
    )

    def work(folded: Callable[[int, int], None]) -> Backtest:
        with db.client(settings) as client:
            return replay(
                client, settings.clickhouse_database, plan,
                page_rows=settings.backtest_page_rows, folded=folded,
            ).report  # fmt: skip

    job = JOBS.start(auth.current_user() or "", work)
    if job is None:
        return dash.no_update, "Your previous back-test is still running.", False
    skipped = "; ".join(f"skipped, as the nudge stage does: {e}" for e in errors)
    return job.id, skipped, False


@callback(
    Output("marketing-backtest-progress", "children"),
    Output("marketing-backtest-report", "children"),
    Output("marketing-backtest-poll", "disabled", allow_duplicate=True),
    Input("marketing-backtest-poll", "n_intervals"),
    State("marketing-backtest-job", "data"),
    prevent_initial_call=True,
    roles=ALLOWED,
)
def poll(_tick: int | None, job_id: str | None) -> tuple[str, str, bool]:
    """How far the user's back-test is, and its report (the CLI's table) once done."""
    job = JOBS.get(auth.current_user() or "", job_id or "")
    if job is None:
        return "No back-test running (a finished one is kept for a while).", "", True
    if job.running:
        total = "?" if job.total is None else f"{job.total:,}"
        return f"Running: {job.folded:,} of {total} events folded.", "", False
    if job.report is None:
        return f"The back-test failed: {job.error}", "", True
    return f"Done: {job.report.events:,} events folded.", "\n".join(table(job.report)), True
