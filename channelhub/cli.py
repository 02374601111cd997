"""``channelhub``: the one command-line entry point.

Each command parses its options here and calls into the module that owns the concern, so the
heavy imports (faust, dash, kafka) happen only for the command that needs them.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from channelhub import logs
from channelhub.errors import ChannelhubError
from channelhub.settings import Settings

app = typer.Typer(
    help="Event-sourced analytics for the operator's self-service channels "
    "(IVR, SMS, web, WAP, kiosk, agents).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schemas_app = typer.Typer(help="The event model that channel systems integrate against.")
app.add_typer(schemas_app, name="schemas")


def _settings() -> Settings:
    """Read the settings once per command and set up logging; bad settings are one line."""
    try:
        settings = Settings()
    except ValidationError as e:
        problems = "; ".join(
            (f"CHANNELHUB_{'_'.join(map(str, err['loc'])).upper()}: " if err["loc"] else "")
            + err["msg"]
            for err in e.errors()
        )
        typer.echo(f"channelhub: invalid settings: {problems}", err=True)
        raise typer.Exit(2) from e
    logs.configure(settings.log_level, service="channelhub")
    return settings


def _fail(error: ChannelhubError) -> None:
    typer.echo(f"channelhub: {error}", err=True)
    raise typer.Exit(1)


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
def migrate() -> None:
    """Create or upgrade the ClickHouse tables (idempotent)."""
    from sinks import migrations

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
