"""The ``simulate`` command: planning the window, pacing, stopping, and the summary."""

import io
import json
import os
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import schemas
from channelhub.ingest.producer import DeliveryError
from channelhub.simulator.engine import Emitted
from channelhub.simulator.ids import iso
from channelhub.simulator.load import HOUR_MS
from channelhub.simulator.run import RunOptions, plan, run
from kernel.clock import to_ms
from kernel.errors import ConfigError
from kernel.settings import Settings

NOW_MS = to_ms(datetime(2024, 6, 10, 12, tzinfo=UTC))
START = datetime(2024, 5, 30, 6, tzinfo=UTC)


def simulate(tmp_path: Path, **options: Any) -> tuple[dict[str, Any], list[bytes], str]:
    """Run to an NDJSON file; return the summary, the lines and everything on stdout."""
    path = tmp_path / f"events-{time.monotonic_ns()}.ndjson"
    stdout = io.StringIO()
    defaults: dict[str, Any] = {
        "seed": 4,
        "subscribers": 5_000,
        "start": START,
        "output": "ndjson",
        "file": path,
    }
    summary = run(
        Settings(), RunOptions(**(defaults | options)), stdout=stdout, stderr=io.StringIO()
    )
    return summary, path.read_bytes().splitlines(), stdout.getvalue()


def test_the_last_stdout_line_is_a_summary_of_exactly_what_was_written(tmp_path: Path) -> None:
    summary, lines, stdout = simulate(tmp_path, events=5_000, bad_fraction=0.1)
    assert json.loads(stdout.splitlines()[-1]) == summary
    assert len(lines) == summary["events"] == 5_000

    by_type: Counter[str] = Counter()
    times, invalid = [], 0
    for line in lines:
        result = schemas.validate(line)
        if isinstance(result, schemas.Rejection):
            invalid += 1
        else:
            by_type[schemas.event_type_of(result)] += 1
            times.append(to_ms(result.occurred_at))
    assert summary["invalid"] == invalid == sum(summary["invalid_by_kind"].values())
    assert summary["valid_by_event_type"] == {t: by_type[t] for t in sorted(schemas.EVENT_TYPES)}
    channels: Counter[str] = Counter()
    for event_type, n in by_type.items():
        channels[event_type.partition(".")[0]] += n
    assert summary["valid"] == {c: channels[c] for c in schemas.CHANNELS}
    assert summary["seed"] == 4
    assert summary["first_occurred_at"] == iso(min(times))
    assert summary["last_occurred_at"] == iso(max(times))


def test_a_fixed_start_and_seed_reproduce_the_file_byte_for_byte(tmp_path: Path) -> None:
    first = simulate(tmp_path, events=3_000, bad_fraction=0.05)
    again = simulate(tmp_path, events=3_000, bad_fraction=0.05)
    assert first[1] == again[1]
    assert first[0] == again[0]


def test_backfill_covers_the_window_and_stops_at_its_end(tmp_path: Path) -> None:
    summary, lines, _ = simulate(tmp_path, backfill_hours=6)
    end = iso(to_ms(START) + 6 * HOUR_MS)
    assert summary["events"] == len(lines) > 1000
    assert iso(to_ms(START)) <= summary["first_occurred_at"]
    assert summary["last_occurred_at"] <= end
    assert summary["last_occurred_at"] > iso(to_ms(START) + 5 * HOUR_MS)


def test_a_rate_paces_history_to_the_wall_clock(tmp_path: Path) -> None:
    began = time.monotonic()
    simulate(tmp_path, events=300, rate=1_000)
    assert time.monotonic() - began >= 0.29


def test_live_runs_at_the_asked_rate(tmp_path: Path) -> None:
    began = time.monotonic()
    summary, _, _ = simulate(tmp_path, events=600, live=True, rate=2_000)
    elapsed = time.monotonic() - began
    assert summary["events"] == 600
    assert 0.1 < elapsed < 3


def test_sigint_ends_a_live_run_with_a_summary(tmp_path: Path) -> None:
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        summary, lines, _ = simulate(tmp_path, live=True, rate=500)
    finally:
        timer.cancel()
    assert summary["events"] == len(lines) > 0


class LosingOutput:
    """Accepts everything and then reports the first two events as undelivered."""

    def __init__(self) -> None:
        self.items: list[Emitted] = []

    def write(self, item: Emitted) -> None:
        self.items.append(item)

    def finish(self) -> DeliveryError | None:
        return DeliveryError("2 event(s) to topic 'raw' were not acknowledged")

    @property
    def undelivered(self) -> list[str]:
        return [item.label for item in self.items[:2]]


def test_undelivered_events_are_taken_out_of_the_summary_then_reported() -> None:
    stdout, lost = io.StringIO(), LosingOutput()
    options = RunOptions(seed=1, events=100, subscribers=1_000, start=START)
    with pytest.raises(DeliveryError, match="not acknowledged"):
        run(Settings(), options, stdout=stdout, stderr=io.StringIO(), output=lost)
    summary = json.loads(stdout.getvalue().splitlines()[-1])
    assert summary["events"] == 98
    assert sum(summary["valid"].values()) == 98


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "nothing bounds the run"),
        ({"events": 10, "bad_fraction": 2.0}, "--bad-fraction"),
        ({"events": 10, "output": "parquet"}, "--output"),
        ({"backfill_hours": -1.0}, "--backfill-hours"),
    ],
)
def test_bad_options_are_refused_with_the_option_named(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        plan(RunOptions(**options), NOW_MS)


def test_backfill_ends_now_or_at_start_plus_hours() -> None:
    window = plan(RunOptions(backfill_hours=24), NOW_MS)
    assert (window.start_ms, window.history_end_ms) == (NOW_MS - 24 * HOUR_MS, NOW_MS)
    fixed = plan(RunOptions(backfill_hours=2, start=START), NOW_MS)
    assert fixed.history_end_ms == to_ms(START) + 2 * HOUR_MS


def test_live_continues_from_the_end_of_the_backfill_in_real_time() -> None:
    window = plan(RunOptions(backfill_hours=1, live=True), NOW_MS)
    assert window.live_from_ms == NOW_MS
    assert window.live_offset_ms == 0
    assert window.live_rate == 0  # the population's own rate
    shifted = plan(RunOptions(backfill_hours=1, live=True, start=START, rate=50), NOW_MS)
    assert shifted.live_offset_ms is None
    assert shifted.live_rate == 50


def test_an_events_only_run_is_history_ending_about_now() -> None:
    window = plan(RunOptions(events=100_000, subscribers=100_000), NOW_MS)
    assert NOW_MS - 3 * 24 * HOUR_MS < window.start_ms < NOW_MS - 12 * HOUR_MS
    assert window.history_end_ms is None
    assert window.live_from_ms is None
