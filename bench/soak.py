"""Soak: every process of the platform under a steady load for half an hour, its memory drawn.

Starts its own broker, ClickHouse, validation worker, nudge stage and sink (as ``channelhub
up``) in a temporary state folder on free ports, and a paced load
(:mod:`channelhub.simulator.replay`) of ``--rate`` events/s into the raw topic. Every
``--every`` seconds it samples the resident memory (RSS, from ``/proc``) of each process,
printing each sample as it goes, and at the end:

1. per process, the mean RSS after ``--warmup`` and the furthest a sample strays from it, as a
   share of the mean, beside the target (±10 %) and the ratio;
2. the rows in ``events`` against the events produced, once the stages have caught up;
3. the series as an SVG picture (``--out``): each process's RSS as a share of its mean after
   the warm-up, with the ±10 % band.

The local broker (Tansu) keeps every record in memory and applies no retention, so its RSS
grows with the data (about 10 MB/s at 5,000 events/s); the run stops early, and says so, if
the machine gets down to 2 GiB of memory available.

    .venv/bin/python bench/soak.py --minutes 30 --rate 5000 --out docs/soak.svg
"""

import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from channelhub.platform.health import tcp_open
from channelhub.platform.isolated import isolated_settings, start_in_order
from channelhub.platform.process import ManagedProcess, stop_all
from channelhub.platform.stack import python_service, start_storage
from channelhub.simulator.replay import paced
from kernel.settings import Settings
from sinks.client import connect

TARGET_DRIFT = 0.10
#: The run stops early rather than let the local broker, which keeps every record in memory,
#: exhaust the machine's memory.
MIN_AVAILABLE_MIB = 2048
POOL_SIZE = 200_000
#: Where the pool's simulated hours start: a weekday morning in Hunan.
POOL_START = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def rss_mib(pid: int) -> float | None:
    """The process's resident set in MiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def available_mib() -> float:
    """The machine's MemAvailable in MiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def stack(settings: Settings) -> list[ManagedProcess]:
    processes = start_storage(settings)
    try:
        processes += start_in_order(
            [
                python_service(settings, "worker", "streams", "--stage", "validate",
                               health=tcp_open("127.0.0.1", settings.worker_web_port)),
                python_service(settings, "nudger", "streams", "--stage", "nudges",
                               health=tcp_open("127.0.0.1", settings.nudger_web_port)),
                python_service(settings, "sink", "sinks", min_uptime=3.0),
            ],
            settings.state_dir,
        )  # fmt: skip
    except BaseException:
        stop_all(list(reversed(processes)), grace=5)
        raise
    return processes


def svg(series: dict[str, list[tuple[float, float]]], warmup_s: float, title: str) -> str:
    """Each process's RSS as a share of its own mean after the warm-up, over time, on one
    chart with the ±10 % band the run is judged by (the warm-up shaded; a line beyond the
    chart's 0-200 % is drawn at its edge, and the legend gives each mean in MiB)."""
    width, height, left, bottom, top, right = 900, 420, 70, 50, 40, 230
    t_max = max((t for points in series.values() for t, _ in points), default=1.0) or 1.0

    def x(t: float) -> float:
        return left + (width - left - right) * t / t_max

    def y(share: float) -> float:
        return height - bottom - (height - top - bottom) * min(max(share, 0.0), 2.0) / 2.0

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="15">{title}</text>',
        f'<rect x="{left}" y="{top}" width="{x(min(warmup_s, t_max)) - left:.1f}" '
        f'height="{height - top - bottom}" fill="#eeeeee"/>',
        f'<text x="{left + 4}" y="{top + 14}" fill="#777">warm-up</text>',
        f'<rect x="{left}" y="{y(1 + TARGET_DRIFT):.1f}" width="{width - left - right}" '
        f'height="{y(1 - TARGET_DRIFT) - y(1 + TARGET_DRIFT):.1f}" fill="#d8f0d8"/>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
        f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">'
        "minutes</text>",
        f'<text x="16" y="{(top + height - bottom) / 2}" transform="rotate(-90 16 '
        f'{(top + height - bottom) / 2})" text-anchor="middle">RSS / mean after warm-up</text>',
    ]
    for i in range(6):
        t = t_max * i / 5
        parts.append(f'<text x="{x(t):.1f}" y="{height - bottom + 16}" text-anchor="middle">'
                     f"{t / 60:.0f}</text>")  # fmt: skip
    for share in (0.0, 0.5, 1.0, 1.5, 2.0):
        parts += [
            f'<text x="{left - 6}" y="{y(share) + 4:.1f}" text-anchor="end">{share:.0%}</text>',
            f'<line x1="{left}" y1="{y(share):.1f}" x2="{width - right}" y2="{y(share):.1f}" '
            'stroke="#dddddd"/>',
        ]
    for n, (name, points) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        mean = statistics.mean([m for t, m in points if t >= warmup_s] or [m for _, m in points])
        line = " ".join(f"{x(t):.1f},{y(m / mean):.1f}" for t, m in points)
        parts += [
            f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>',
            f'<rect x="{width - right + 14}" y="{top + 18 * n}" width="12" height="12" '
            f'fill="{colour}"/>',
            f'<text x="{width - right + 32}" y="{top + 18 * n + 11}">{name} '
            f"(mean {mean:,.0f} MiB)</text>",
        ]
    parts.append("</svg>")
    return "\n".join(parts)


@app.command(help=__doc__.split("\n\n")[0])
def main(
    minutes: Annotated[float, typer.Option(min=1, help="Length of the run.")] = 30,
    rate: Annotated[float, typer.Option(min=1, help="Load, events/s.")] = 5_000,
    every: Annotated[float, typer.Option(min=1, help="Seconds between samples.")] = 10,
    warmup: Annotated[float, typer.Option(min=0, help="Minutes not judged.")] = 5,
    out: Annotated[Path, typer.Option(help="Where to write the SVG picture.")] = Path("soak.svg"),
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 1,
) -> None:
    state = Path(tempfile.mkdtemp(prefix="channelhub-soak-"))
    settings = isolated_settings(state, clickhouse_database="soak", log_level="WARNING")
    print(f"state in {state}; starting the platform ...", file=sys.stderr)
    processes = stack(settings)
    spawn = multiprocessing.get_context("spawn")
    ready, stop = spawn.Event(), spawn.Event()
    load = spawn.Process(
        target=paced, name="load",
        args=(settings.kafka_bootstrap, settings.topic_raw, rate, seed, 0, POOL_START,
              POOL_SIZE, ready, stop),
    )  # fmt: skip
    series: dict[str, list[tuple[float, float]]] = {p.spec.name: [] for p in processes}
    series["load"] = []
    try:
        load.start()
        print(f"generating the load's pool of {POOL_SIZE:,} events ...", file=sys.stderr)
        if not ready.wait(timeout=300):
            raise SystemExit("soak: the load process did not start in 300 s")
        began = time.perf_counter()
        deadline = began + minutes * 60
        pids = {p.spec.name: p.pid for p in processes}
        pids["load"] = load.pid
        while (now := time.perf_counter()) < deadline:
            line = []
            for name, pid in pids.items():
                mib = rss_mib(pid) if pid else None
                if mib is None:
                    raise SystemExit(f"soak: {name} (pid {pid}) is gone; see {state / 'logs'}")
                series[name].append((now - began, mib))
                line.append(f"{name} {mib:,.0f}")
            print(f"{(now - began) / 60:5.1f} min  RSS MiB: {', '.join(line)}", file=sys.stderr)
            if available_mib() < MIN_AVAILABLE_MIB:
                print(f"soak: stopped after {(now - began) / 60:.1f} min, with less than "
                      f"{MIN_AVAILABLE_MIB:,} MiB of memory left on the machine (the local "
                      "broker holds every record in memory)")  # fmt: skip
                break
            time.sleep(max(0.0, every - (time.perf_counter() - now)))
        stop.set()
        load.join(timeout=30)
        client = connect(settings)
        produced = settle(settings, client)
    finally:
        stop.set()
        if load.is_alive():
            load.terminate()
        stop_all(list(reversed(processes)), grace=5)
    report(series, warmup * 60, rate, minutes, produced, out)


def settle(settings: Settings, client: object) -> tuple[int, int]:
    """(events in the raw topic, rows in ``events``) once the row count stops moving."""
    from channelhub.recovery.topics import consumer, end_offsets, partitions

    reader = consumer(settings.kafka_bootstrap, "soak-count")
    produced = sum(end_offsets(reader, partitions(reader, [settings.topic_raw])).values())
    reader.close()
    rows, last_change = -1, time.monotonic()
    while time.monotonic() - last_change < 30:
        ((n,),) = client.execute("SELECT count() FROM events")  # type: ignore[attr-defined]
        if n != rows:
            rows, last_change = n, time.monotonic()
        if rows >= produced:
            break
        time.sleep(1)
    return produced, rows


def report(
    series: dict[str, list[tuple[float, float]]],
    warmup_s: float,
    rate: float,
    minutes: float,
    counts: tuple[int, int],
    out: Path,
) -> None:
    print(f"RSS after {warmup_s / 60:.0f} min of warm-up, {rate:,.0f} events/s for "
          f"{minutes:.0f} min:")  # fmt: skip
    print(f"{'process':>10} {'mean MiB':>9} {'min':>7} {'max':>7} {'drift':>7} "
          f"{'target':>7} {'ratio':>6}")  # fmt: skip
    for name, points in series.items():
        judged = [m for t, m in points if t >= warmup_s] or [m for _, m in points]
        mean = statistics.mean(judged)
        drift = max(abs(m - mean) for m in judged) / mean
        print(f"{name:>10} {mean:>9,.0f} {min(judged):>7,.0f} {max(judged):>7,.0f} "
              f"{drift:>7.1%} {TARGET_DRIFT:>7.0%} {drift / TARGET_DRIFT:>6.2f}")  # fmt: skip
    print(
        "(the local broker, Tansu, keeps every record in memory and applies no retention, so "
        "its RSS grows with the data held: that is the data, not a leak)"
    )
    produced, rows = counts
    print(f"events produced {produced:,}, rows in events {rows:,}")
    title = f"RSS per process, {rate:,.0f} events/s for {minutes:.0f} min"
    out.write_text(svg(series, warmup_s, title), encoding="utf-8")
    print(f"picture: {out}")


if __name__ == "__main__":
    app()
