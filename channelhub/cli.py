"""``channelhub``: the one command-line entry point.

Each command parses its options here and calls into the module that owns the concern, so the
heavy imports (faust, dash, kafka) happen only for the command that needs them.
"""

import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from kernel import startup
from kernel.errors import ChannelhubError
from kernel.settings import Settings

if TYPE_CHECKING:
    from clickhouse_driver import Client

    from orchestration.catalogue import Catalogue
    from orchestration.content import Content
    from schemas.catalogue import CatalogueChannel, Entry

T = TypeVar("T")

app = typer.Typer(
    help="Event-sourced analytics for the operator's self-service channels "
    "(IVR, SMS, web, WAP, kiosk, agents).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schemas_app = typer.Typer(help="The event model that channel systems integrate against.")
app.add_typer(schemas_app, name="schemas")
campaign_app = typer.Typer(
    help="Marketing campaigns: an audience from ClickHouse, one SMS text, a schedule and a "
    "budget, sent through the nudge guardrails.",
    no_args_is_help=True,
)
app.add_typer(campaign_app, name="campaign")
dlq_app = typer.Typer(
    help="Dead letters: the events the validator refused, kept with the reason.",
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")
pseudonyms_app = typer.Typer(
    help="Subscriber pseudonyms: the keyed form in which ClickHouse holds every MSISDN.",
    no_args_is_help=True,
)
app.add_typer(pseudonyms_app, name="pseudonyms")
rules_app = typer.Typer(
    help="Nudge rules: TOML files the nudge stage evaluates against every event.",
    no_args_is_help=True,
)
app.add_typer(rules_app, name="rules")
service_app = typer.Typer(
    help="The service catalogue: which function each channel offers (IVR menu items, SMS-hall "
    "codes and keywords, web and WAP functions, kiosk services), changed only through the "
    "deck's two processes, each step by someone who holds its role in the staff file "
    "(CHANNELHUB_CATALOGUE_STAFF_FILE).\n\n"
    "Opening: request-open (requester), marketing_reviewed (marketing_reviewer), "
    "jointly_reviewed_and_developed (developer), live_and_tested (tester), "
    "content_and_training_ready (content_owner), opened (channel_owner).\n\n"
    "Retiring: request-retire (requester), submitted (requester), marketing_reviewed "
    "(marketing_reviewer), offline_and_tested (tester), content_updated (content_owner), "
    "retired (channel_owner).\n\n"
    "A step follows only the one before it, and no one reviews their own request. Every "
    "request and step is a record on channel.catalogue with who, when and in which role; "
    "`service show` prints a request's trail.",
    no_args_is_help=True,
)
app.add_typer(service_app, name="service")
content_app = typer.Typer(
    help="Published content: every SMS template a rule or campaign sends (items rule:<id>, "
    "campaign:<id>) and each prefecture's web-hall content (web:<prefecture>:<name>), in "
    "numbered versions, each through the deck's four reviews by someone who holds the role in "
    "the staff file (CHANNELHUB_CATALOGUE_STAFF_FILE).\n\n"
    "draft (branch_maintainer of the item's branch), branch_reviewed (branch_administrator of "
    "the branch), column_reviewed (column_owner), knowledge_checked (service_centre: the "
    "placeholders are ones the item can fill, the SMS codes ones the SMS hall answers), "
    "published (service_centre).\n\n"
    "Whoever is due to take the next step may reject the version instead, with a reason; the "
    "item is then a draft again. No one reviews a version they drafted. The nudge stage sends "
    "only a published version of a rule's template; `content show` prints an item's trail.",
    no_args_is_help=True,
)
app.add_typer(content_app, name="content")


def _settings() -> Settings:
    """Read the settings once per command and set up logging; bad settings are one line."""
    return startup.start("channelhub")


def _fail(error: ChannelhubError) -> NoReturn:
    typer.echo(f"channelhub: {error}", err=True)
    raise typer.Exit(1)


def _read_clickhouse(settings: Settings, read: "Callable[[Client, str], T]") -> T:
    """``read(client, database)`` on a fresh connection; a storage error is one line, exit 1."""
    from sinks.client import connect, database_name

    try:
        client = connect(settings)
        try:
            return read(client, database_name(settings))
        finally:
            client.disconnect()
    except ChannelhubError as e:
        _fail(e)


@app.command()
def up(
    detach: Annotated[bool, typer.Option(help="Start in the background and return.")] = False,
    simulator: Annotated[
        bool, typer.Option(help="Feed a day of history, then live traffic.")
    ] = True,
) -> None:
    """Start the local platform: broker, ClickHouse, workers, sink, collector, dashboard."""
    from channelhub.platform import commands

    try:
        commands.up(_settings(), detach=detach, simulator=simulator)
    except ChannelhubError as e:
        _fail(e)


@app.command()
def down() -> None:
    """Stop a platform started with 'up --detach'."""
    from channelhub.platform import commands

    try:
        commands.down(_settings())
    except ChannelhubError as e:
        _fail(e)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show each service's state and endpoint."""
    from channelhub.platform import commands

    commands.status(_settings(), as_json=as_json)


@app.command()
def migrate(
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="Write a migration module for each registered table no migration creates "
            "yet (for developers adding a topic), then exit without touching ClickHouse.",
        ),
    ] = False,
) -> None:
    """Create or upgrade the ClickHouse tables (idempotent)."""
    from sinks import migrations

    if new:
        written = migrations.write_missing()
        typer.echo(
            "\n".join(f"wrote {path}" for path in written) or "every table has its migration"
        )
        return
    try:
        applied = migrations.migrate(_settings())
    except ChannelhubError as e:
        _fail(e)
    typer.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'up to date'}")


@schemas_app.command("export")
def schemas_export(
    directory: Annotated[Path, typer.Argument(help="Folder to write the JSON Schema files to.")],
) -> None:
    """Write the JSON Schema of every event type, for channel systems to validate against."""
    from schemas import export

    written = export.export(directory)
    typer.echo(f"wrote {len(written)} schema file(s) to {directory}")


def _time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time with its UTC offset, or ``now``; a bad one is a usage error."""
    from datetime import UTC

    if value is None:
        return None
    if value == "now":
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value)
    except ValueError as e:
        raise typer.BadParameter(f"{option} {value!r} is not an ISO 8601 time: {e}") from e
    if at.tzinfo is None:
        raise typer.BadParameter(
            f"{option} {value!r} needs a UTC offset, e.g. 2026-03-03T10:00:00+08:00"
        )
    return at


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return "unknown"


By = Annotated[
    str | None, typer.Option(help="Who is responsible, for the record (default: your login).")
]


@campaign_app.command("create")
def campaign_create(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="The campaign's TOML file.")
    ],
    by: By = None,
) -> None:
    """Check a campaign file and create the campaign (an event; the id must be new)."""
    from channelhub.marketing import store
    from orchestration.campaigns import load_campaign_file

    settings = _settings()
    try:
        event = store.create(settings, load_campaign_file(file), by=by or _login())
    except ChannelhubError as e:
        _fail(e)
    typer.echo(
        f"created campaign {event.campaign_id!r}; `channelhub campaign preview "
        f"{event.campaign_id}` shows its audience, `channelhub campaign trigger "
        f"{event.campaign_id}` sends it"
    )


@campaign_app.command("preview")
def campaign_preview(
    file_or_id: Annotated[
        str, typer.Argument(help="A campaign file, or the id of a created campaign.")
    ],
    as_of: Annotated[
        str | None,
        typer.Option(help="Select as of this ISO 8601 time with offset (default: now)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """How many subscribers a campaign's audience selects, by prefecture and by brand."""
    import json
    from datetime import UTC

    from channelhub.marketing import audience, store
    from orchestration.campaigns import load_campaign_file

    at = _time(as_of, "--as-of") or datetime.now(UTC)
    settings = _settings()

    def read(client: "Client", db: str) -> tuple[Any, audience.AudiencePreview]:
        path = Path(file_or_id)
        spec = (
            load_campaign_file(path)
            if path.suffix == ".toml" or path.is_file()
            else store.find_spec(client, db, file_or_id)
        )
        return spec, audience.preview(client, db, spec.audience, at)

    spec, seen = _read_clickhouse(settings, read)
    if as_json:
        summary = {
            "campaign_id": spec.id, "as_of": seen.as_of.isoformat(), "size": seen.size,
            "by_prefecture": seen.by_prefecture, "by_brand": seen.by_brand,
        }  # fmt: skip
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"campaign {spec.id!r} as of {seen.as_of.isoformat()}: {seen.size} subscribers")
    for title, counts in (("prefecture", seen.by_prefecture), ("brand", seen.by_brand)):
        typer.echo(f"  by {title}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))


@campaign_app.command("trigger")
def campaign_trigger(
    campaign_id: Annotated[str, typer.Argument(help="The id of a created campaign.")],
    at: Annotated[
        str | None,
        typer.Option(
            help="When to select the audience and send: ISO 8601 with offset, or 'now' "
            "(default: the file's schedule.at, else now)."
        ),
    ] = None,
    by: By = None,
) -> None:
    """Trigger a campaign: the fan-out sends it at the scheduled time."""
    from channelhub.marketing import store

    when = _time(at, "--at")
    settings = _settings()
    try:
        event = store.trigger(settings, campaign_id, when, by=by or _login())
    except ChannelhubError as e:
        _fail(e)
    typer.echo(
        f"triggered campaign {campaign_id!r} for {event.scheduled_at.isoformat()} "
        f"(trigger {event.trigger_id})"
    )


@campaign_app.command("list")
def campaign_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Every campaign with its schedule, triggers and guardrail decisions by outcome."""
    import msgspec

    from channelhub.marketing import store

    campaigns = _read_clickhouse(_settings(), store.list_campaigns)
    if as_json:
        typer.echo(msgspec.json.encode(campaigns).decode())
        return
    if not campaigns:
        typer.echo("no campaigns yet; `channelhub campaign create FILE` creates one")
    for c in campaigns:
        scheduled = c.scheduled_at.isoformat() if c.scheduled_at else "when triggered"
        decided = ", ".join(f"{o} {n}" for o, n in sorted(c.decisions.items())) or "none"
        typer.echo(
            f"{c.campaign_id}  created {c.created_at.isoformat()} by {c.created_by}; "
            f"scheduled {scheduled}; {len(c.triggers)} trigger(s); decisions: {decided}"
        )


class CatalogueSource(str, Enum):
    """Where ``service list`` and ``show`` read the catalogue's records."""

    topic = "topic"
    clickhouse = "clickhouse"


From = Annotated[
    CatalogueSource,
    typer.Option(
        "--from",
        help="Fold the topic (every record written so far) or the ClickHouse table (what the "
        "sink has written).",
    ),
]


def _ledger(settings: Settings, source: CatalogueSource, store: Any) -> Any:
    """What ``store`` (the catalogue's or the content's) reads from ``source``: a broker or
    storage error is one line, exit 1; records that did not decode are counted on stderr."""
    try:
        read = (
            _read_clickhouse(settings, store.read_clickhouse)
            if source is CatalogueSource.clickhouse
            else store.read_topic(settings)
        )
    except ChannelhubError as e:
        _fail(e)
    if read.unreadable:
        typer.echo(f"channelhub: {read.unreadable} record(s) did not decode; skipped", err=True)
    return read


def _catalogue(settings: Settings, source: CatalogueSource) -> "Catalogue":
    """The catalogue folded from ``source``."""
    from channelhub.catalogue import store

    catalogue: Catalogue = _ledger(settings, source, store).catalogue
    return catalogue


def _print(as_json: bool, data: Callable[[], object], lines: Callable[[], Iterable[str]]) -> None:
    """``data()`` as one line of JSON for scripts (``--json``), else ``lines()`` for a person."""
    import json

    if as_json:
        typer.echo(json.dumps(data(), ensure_ascii=False))
        return
    for line in lines():
        typer.echo(line)


@service_app.command("list")
def service_list(
    source: From = CatalogueSource.topic,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """What each channel offers now, and the requests in progress with their next step."""
    from channelhub.catalogue import report

    catalogue = _catalogue(_settings(), source)
    _print(
        as_json, lambda: report.catalogue_data(catalogue), lambda: report.catalogue_lines(catalogue)
    )


@service_app.command("seed")
def service_seed() -> None:
    """Write today's static catalogue as seed records; records already there are skipped."""
    from channelhub.catalogue import seed

    try:
        written, present = seed.seed(_settings())
    except ChannelhubError as e:
        _fail(e)
    typer.echo(f"seeded {written} catalogue entries ({present} already there)")


def _entries(options: dict[str, list[str]]) -> "tuple[Entry, ...]":
    """The entries named by ``--ivr``, ``--sms`` (``CODE`` or ``CODE:KEYWORD,KEYWORD``),
    ``--web``, ``--wap`` and ``--kiosk``; a malformed one is a usage error."""
    from channelhub.catalogue import store

    entries: list[Entry] = []
    for channel, values in options.items():
        for value in values:
            try:
                entries.append(store.parse_entry(channel, value))
            except ChannelhubError as e:
                raise typer.BadParameter(str(e), param_hint=f"--{channel}") from e
    return tuple(entries)


@service_app.command("request-open")
def service_request_open(
    service: Annotated[str, typer.Argument(help="The service, e.g. handling.family_plan.")],
    ivr: Annotated[
        list[str] | None, typer.Option(help="IVR keys of its menu item, e.g. 3-9 (repeatable).")
    ] = None,
    sms: Annotated[
        list[str] | None,
        typer.Option(help="SMS-hall code, with keywords: 0207 or 0207:JT,家庭 (repeatable)."),
    ] = None,
    web: Annotated[list[str] | None, typer.Option(help="Web hall function (repeatable).")] = None,
    wap: Annotated[list[str] | None, typer.Option(help="WAP hall function (repeatable).")] = None,
    kiosk: Annotated[list[str] | None, typer.Option(help="Kiosk service (repeatable).")] = None,
    reason: Annotated[str, typer.Option(help="Why the department needs it.")] = "",
    by: By = None,
) -> None:
    """Request to open a service on the chosen channels (as a requester of a department)."""
    from channelhub.catalogue import store

    named = {"ivr": ivr, "sms": sms, "web": web, "wap": wap, "kiosk": kiosk}
    entries = _entries({channel: values or [] for channel, values in named.items()})
    if not entries:
        raise typer.BadParameter("name at least one entry: --ivr, --sms, --web, --wap, --kiosk")
    settings = _settings()
    try:
        event = store.request_open(settings, service, entries, by=by or _login(), reason=reason)
    except ChannelhubError as e:
        _fail(e)
    typer.echo(
        f"requested to open {service!r}: request {event.request_id}; next "
        f"`channelhub service step {event.request_id[:8]} marketing_reviewed` by a "
        "marketing_reviewer"
    )


def _channels(names: list[str]) -> "tuple[CatalogueChannel, ...]":
    from schemas.catalogue import CATALOGUE_CHANNELS

    wrong = [n for n in names if n not in CATALOGUE_CHANNELS]
    if wrong:
        raise typer.BadParameter(
            f"{', '.join(wrong)} is not a catalogue channel; "
            f"one of {', '.join(CATALOGUE_CHANNELS)}",
            param_hint="--channel",
        )
    return tuple(c for c in CATALOGUE_CHANNELS if c in names)


@service_app.command("request-retire")
def service_request_retire(
    service: Annotated[str, typer.Argument(help="The service to retire.")],
    channel: Annotated[
        list[str] | None,
        typer.Option(help="Retire it only from this channel (repeatable; default: every one)."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why it retires early.")] = "",
    by: By = None,
) -> None:
    """Request to retire a service early (as a requester of a department)."""
    from channelhub.catalogue import store

    settings = _settings()
    try:
        event = store.request_retire(
            settings, service, _channels(channel or []), by=by or _login(), reason=reason
        )
    except ChannelhubError as e:
        _fail(e)
    typer.echo(
        f"requested to retire {service!r}: request {event.request_id}; next "
        f"`channelhub service step {event.request_id[:8]} submitted` by a requester"
    )


@service_app.command("step")
def service_step(
    request: Annotated[str, typer.Argument(help="The request's id, or its first 4+ characters.")],
    step: Annotated[str, typer.Argument(help="The step taken, e.g. marketing_reviewed.")],
    note: Annotated[str, typer.Option(help="What the reviewer or tester found.")] = "",
    by: By = None,
) -> None:
    """Record a step of a request: the one after the last step taken, in its role."""
    from channelhub.catalogue import store

    settings = _settings()
    try:
        event, after = store.take_step(settings, request, step, by=by or _login(), note=note)
    except ChannelhubError as e:
        _fail(e)
    then = f"next {after[0]} by a {after[1]}" if after else f"the service is {event.step}"
    typer.echo(f"{event.step} recorded for request {event.request_id} ({event.service!r}); {then}")


@service_app.command("show")
def service_show(
    request: Annotated[
        str, typer.Argument(help="A request id (or its first 4+ characters), or a service.")
    ],
    source: From = CatalogueSource.topic,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """The audit trail of a request, or of every request for a service.

    Each step with who, in which role and when, and the attempts that were refused; for a
    service, also its open entries.
    """
    import json

    import msgspec

    from channelhub.catalogue import report, store

    catalogue = _catalogue(_settings(), source)
    workflows = [w for w in catalogue.workflows.values() if w.request.service == request]
    if not workflows and request not in catalogue.services():
        try:
            workflows = [store.find_request(catalogue, request)]
        except ChannelhubError as e:
            _fail(e)
    if as_json:
        shown = {
            "entries": [msgspec.to_builtins(e) for e in catalogue.entries(request)],
            "requests": [report.workflow_data(w) for w in workflows],
        }
        typer.echo(json.dumps(shown, ensure_ascii=False))
        return
    if request in catalogue.services():
        entries = "; ".join(report.entry_text(e) for e in catalogue.entries(request))
        typer.echo(f"{request!r} is open on: {entries}")
    for workflow in workflows:
        for line in report.trail_lines(workflow):
            typer.echo(line)


def _content(settings: Settings, source: CatalogueSource) -> "Content":
    """The content folded from ``source``."""
    from channelhub.content import store

    content: Content = _ledger(settings, source, store).content
    return content


Item = Annotated[
    str, typer.Argument(help="rule:<rule id>, campaign:<campaign id> or web:<prefecture>:<name>.")
]


@content_app.command("list")
def content_list(
    source: From = CatalogueSource.topic,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Every content item: the version in use, and the version in review with its next step."""
    from channelhub.content import report

    content = _content(_settings(), source)
    _print(as_json, lambda: report.list_data(content), lambda: report.list_lines(content))


@content_app.command("seed")
def content_seed() -> None:
    """Publish the texts of the shipped rules and example campaigns as version 1 of their
    items, by ``system``; an item that has versions already is left alone."""
    from channelhub.content import store

    try:
        done = store.seed(_settings())
    except ChannelhubError as e:
        _fail(e)
    typer.echo(f"seeded {done.written} content items ({done.present} already there)")
    for line in done.unpublished:
        typer.echo(f"channelhub: {line}", err=True)


@content_app.command("draft")
def content_draft(
    item: Item,
    text: Annotated[str, typer.Argument(help="The text; a template's {placeholders} included.")],
    note: Annotated[str, typer.Option(help="What changed and why.")] = "",
    by: By = None,
) -> None:
    """Draft the item's next version (as a branch maintainer of its branch)."""
    from channelhub.content import store

    try:
        event = store.draft(_settings(), item, text, by=by or _login(), note=note)
    except ChannelhubError as e:
        _fail(e)
    typer.echo(
        f"drafted version {event.version} of {item}; next `channelhub content step {item} "
        "branch_reviewed` by a branch_administrator"
    )


@content_app.command("step")
def content_step(
    item: Item,
    step: Annotated[str, typer.Argument(help="The step taken, e.g. branch_reviewed.")],
    note: Annotated[str, typer.Option(help="What the reviewer found.")] = "",
    by: By = None,
) -> None:
    """Record the next step of the item's version in review, in its role."""
    from channelhub.content import store

    try:
        event, after = store.take_step(_settings(), item, step, by=by or _login(), note=note)
    except ChannelhubError as e:
        _fail(e)
    then = f"next {after[0]} by a {after[1]}" if after else "it is now the version in use"
    typer.echo(f"{event.step} recorded for version {event.version} of {item}; {then}")


@content_app.command("reject")
def content_reject(
    item: Item,
    reason: Annotated[str, typer.Option(help="Why it goes back to draft (required).")],
    by: By = None,
) -> None:
    """Send the version in review back to draft, in the role of its next step."""
    from channelhub.content import store

    try:
        event = store.reject(_settings(), item, reason=reason, by=by or _login())
    except ChannelhubError as e:
        _fail(e)
    typer.echo(
        f"version {event.version} of {item} rejected; `channelhub content draft {item} TEXT` "
        "drafts the next one"
    )


@content_app.command("show")
def content_show(
    item: Item,
    source: From = CatalogueSource.topic,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """The item's audit trail: every version with its text, and every draft, step and
    rejection with who, in which role and when, refused attempts included."""
    from channelhub.content import report

    content = _content(_settings(), source)
    found = content.items.get(item)
    if found is None:
        typer.echo(
            f"channelhub: no content item {item!r}; `channelhub content list` shows them", err=True
        )
        raise typer.Exit(1)
    _print(as_json, lambda: report.item_data(found), lambda: report.trail_lines(found))


@app.command("uplift")
def uplift_report(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Conversion of sent versus holdout per rule and campaign, with the uplift's 95% interval."""
    import msgspec

    from channelhub.marketing.uplift import uplift

    rows = _read_clickhouse(_settings(), uplift)
    if as_json:
        typer.echo(msgspec.json.encode(rows).decode())
        return
    if not rows:
        typer.echo("no nudge has been sent or held out yet")
    for r in rows:
        interval = (
            f"{r.uplift:+.1%} (95% CI {r.ci_low:+.1%} to {r.ci_high:+.1%})"
            if r.uplift is not None and r.ci_low is not None and r.ci_high is not None
            else "no interval yet (a group is empty)"
        )
        typer.echo(
            f"{r.rule_id}  sent {r.sent_converted}/{r.sent} converted, holdout "
            f"{r.holdout_converted}/{r.holdout}; uplift {interval}"
        )


@rules_app.command("backtest")
def rules_backtest(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="The rule's TOML file.")
    ],
    days: Annotated[int, typer.Option(min=1, help="Report the last N days of requests.")] = 7,
    until: Annotated[
        str | None,
        typer.Option(help="End of the window: ISO 8601 with offset, or 'now' (the default)."),
    ] = None,
    warmup_days: Annotated[
        float,
        typer.Option(
            min=0,
            help="Fold this many days before the window too, unreported, so caps, journeys "
            "and held nudges carry into it (exact once it reaches the start of the history).",
        ),
    ] = 7.0,
    rules_dir: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            help="The enabled rules to run beside it (default: the nudge stage's directory).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """What a rule would have done over stored history, before it is enabled.

    Folds the canonical events ClickHouse holds through the nudge stage's own core and
    guardrails, partition by partition in offset order, with the rule and the rules already
    enabled, and reports the rule's nudges per local day and prefecture, its outcomes by
    guardrail reason, the subscribers and triggers it shares with each enabled rule, and the SMS
    it would have paid for. It only reads: nothing is sent, no topic or table is written.
    Progress goes to stderr.
    """
    from datetime import UTC, timedelta

    import msgspec

    from channelhub.marketing.backtest import plan_for, table
    from channelhub.marketing.history import replay
    from orchestration.rules import load_rule_file

    end = (_time(until, "--until") or datetime.now(UTC)).replace(microsecond=0)
    settings = _settings()
    try:
        candidate = load_rule_file(file)
    except ChannelhubError as e:
        _fail(e)
    plan, errors = plan_for(
        settings, candidate, days=days, end=end, warmup=timedelta(days=warmup_days),
        rules_dir=rules_dir,
    )  # fmt: skip
    for error in errors:
        typer.echo(f"channelhub: skipped, as the nudge stage does: {error}", err=True)
    result = _read_clickhouse(
        settings,
        lambda client, db: replay(
            client,
            db,
            plan,
            page_rows=settings.backtest_page_rows,
            progress=lambda line: typer.echo(line, err=True),
        ),
    )
    if as_json:
        typer.echo(msgspec.json.encode(result.report).decode())
        return
    typer.echo("\n".join(table(result.report)))


@dlq_app.command("redrive")
def dlq_redrive(
    reason: Annotated[
        list[str] | None,
        typer.Option(help="Only letters refused for this reason_code (repeatable)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only letters received at or after this ISO 8601 time with offset."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Only letters received before this ISO 8601 time with offset."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Re-validate and count, produce nothing.")] = False,
) -> None:
    """Re-validate dead letters after a fix and send the ones that now pass, exactly once.

    Reads the original payloads from the dead-letter topic, validates each as at its first
    arrival, and produces the valid ones to the raw topic; the pipeline stores them. The last
    line printed is a JSON summary.
    """
    import json
    from typing import get_args

    from channelhub.recovery import dlq
    from schemas.validation import ReasonCode

    known = get_args(ReasonCode)
    unknown = [r for r in reason or () if r not in known]
    if unknown:
        raise typer.BadParameter(
            f"{', '.join(map(repr, unknown))} is not a reason code; one of: {', '.join(known)}",
            param_hint="--reason",
        )
    start, end = _time(since, "--since"), _time(until, "--until")
    if start is not None and end is not None and start >= end:
        raise typer.BadParameter(f"--since {since} is not before --until {until}")
    selection = dlq.Selection(frozenset(reason or ()), start, end)
    settings = _settings()
    try:
        summary = dlq.redrive(
            settings, selection, dry_run=dry_run, progress=lambda line: typer.echo(line, err=True)
        )
    except ChannelhubError as e:
        _fail(e)
    typer.echo(json.dumps(summary.as_dict()))


@pseudonyms_app.command("rotate")
def pseudonyms_rotate() -> None:
    """Re-key every pseudonym ClickHouse holds under a retired key to the active key.

    Run it after the key rotated: CHANNELHUB_PSEUDONYM_KEY set to the new key,
    CHANNELHUB_PSEUDONYM_KEY_ID raised, the old key added to CHANNELHUB_PSEUDONYM_RETIRED_KEYS,
    and every service restarted with them. Subscribers' history, opt-outs and campaign
    exclusions join across the change again. Safe to run again; the last line printed is a
    JSON summary of the rows re-keyed per table.
    """
    import json

    from sinks import rekey

    settings = startup.start("channelhub", "pseudonym_key")
    try:
        rotation = rekey.rotate(settings, progress=lambda line: typer.echo(line, err=True))
    except ChannelhubError as e:
        _fail(e)
    typer.echo(json.dumps(rotation.as_dict()))


@app.command()
def rebuild(
    force: Annotated[
        bool,
        typer.Option(
            help="Swap even when the topics no longer hold rows the live tables have "
            "(they stay in the old tables)."
        ),
    ] = False,
    settle: Annotated[
        float,
        typer.Option(min=0, help="Seconds to wait for the running sink to reach the same end."),
    ] = 60.0,
) -> None:
    """Replay the topics into fresh tables, compare, and swap them in for the live ones.

    The old tables are kept in a database named at the end, for you to check and drop. The
    last line printed is a JSON summary with each table's counts.
    """
    import json

    from channelhub.recovery import rebuild as rebuilding

    settings = _settings()
    try:
        summary = rebuilding.rebuild(
            settings,
            force=force,
            settle_seconds=settle,
            progress=lambda line: typer.echo(line, err=True),
        )
    except ChannelhubError as e:
        _fail(e)
    typer.echo(
        f"rebuilt {summary.database}; the old tables are in {summary.kept_in}: "
        f"`DROP DATABASE {summary.kept_in}` once checked",
        err=True,
    )
    typer.echo(json.dumps(summary.as_dict()))


@app.command()
def simulate(
    events: Annotated[
        int | None, typer.Option(min=1, help="Stop after N events in total (valid + malformed).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed and options: the same bytes.")] = 0,
    rate: Annotated[
        float,
        typer.Option(
            min=0,
            help="Events per second of wall time. History: 0 = as fast as possible; "
            "live: 0 = the population's own rate.",
        ),
    ] = 0.0,
    bad_fraction: Annotated[
        float, typer.Option(min=0, max=1, help="Share of malformed events, 0..1.")
    ] = 0.0,
    backfill_hours: Annotated[
        float | None, typer.Option(help="Generate H hours of history ending now (or --start + H).")
    ] = None,
    live: Annotated[
        bool, typer.Option(help="Then keep going in real time until --events or Ctrl-C.")
    ] = False,
    subscribers: Annotated[int, typer.Option(min=1, help="Size of the population.")] = 100_000,
    start: Annotated[
        str | None, typer.Option(help="Simulated start, ISO 8601 (UTC if no offset).")
    ] = None,
    output: Annotated[
        str, typer.Option(help="kafka (the raw topic, keyed by subscriber) or ndjson.")
    ] = "kafka",
    file: Annotated[
        Path | None, typer.Option(help="NDJSON file (default: standard output).")
    ] = None,
) -> None:
    """Generate realistic channel traffic; the last line printed is a JSON summary."""
    from datetime import datetime

    from channelhub.simulator import run

    try:
        start_at = datetime.fromisoformat(start) if start else None
    except ValueError as e:
        raise typer.BadParameter(f"--start {start!r} is not an ISO 8601 time: {e}") from e
    options = run.RunOptions(
        seed=seed,
        events=events,
        rate=rate,
        bad_fraction=bad_fraction,
        backfill_hours=backfill_hours,
        live=live,
        subscribers=subscribers,
        start=start_at,
        output=output,
        file=file,
    )
    try:
        run.run(_settings(), options)
    except ChannelhubError as e:
        _fail(e)


def main() -> None:
    """Console entry point: a usage error is one line on stderr and exit status 2."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as e:  # bad usage: unknown command, invalid option value
        ctx = getattr(e, "ctx", None)
        where = ctx.command_path if ctx is not None else "channelhub"
        typer.echo(f"{where}: {e.format_message()} (see '{where} --help')", err=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
