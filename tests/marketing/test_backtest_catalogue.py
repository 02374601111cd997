"""The back-test takes the service catalogue as it stood at each event: an SMS code retired in
the middle of the window changes the hints and the decisions exactly as it did for the live
core, which switched its ways when the retirement reached it and refused at the end of quiet
hours the held texts that still named the code. And the report says whether the text under
test is a published version."""

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from channelhub.catalogue.seed import seed_records
from channelhub.marketing.backtest import Ledgers, StoredEvent, backtest, table
from kernel.clock import from_ms, to_ms
from orchestration.catalogue import Catalogue, fold
from orchestration.content import fold as fold_content
from orchestration.rules import guidance
from schemas import Event
from schemas.catalogue import CatalogueEvent
from schemas.content import seeded
from schemas.nudges import DecidedNudge
from streams.nudge_core import PartitionNudges
from tests.marketing import test_backtest as simulated_day
from tests.marketing.test_backtest import SHIPPED, _as_stored, _plan, _recorded
from tests.orchestration.test_catalogue import retire_request, whole
from tests.streams.nudge_fold import batches, by_partition, core

PARTITIONS = 4
#: The simulated night and morning the back-test core's test folds, and its rows.
events = simulated_day.events
rows = simulated_day.rows
CODE = "0101"  # the realtime charges, the simulated callers' commonest question
HINT = f"发送{CODE}到10086"


@pytest.fixture(scope="module")
def retired_at(events: list[Event]) -> datetime:
    """A second a quarter into the simulated day: at night, while requests wait for 08:00."""
    middle = sorted(to_ms(e.occurred_at) for e in events)[len(events) // 4]
    return from_ms(middle // 1000 * 1000)


@pytest.fixture(scope="module")
def records(retired_at: datetime) -> tuple[CatalogueEvent, ...]:
    """The seed, a day before, and the SMS code's whole retirement at ``retired_at``."""
    seeded = seed_records(retired_at - timedelta(days=1))
    retiring = [
        msgspec.structs.replace(e, at=retired_at)
        for e in whole(retire_request("query.realtime_charges", "sms"))
    ]
    return (*seeded, *retiring)


@pytest.fixture(scope="module")
def live_retiring(
    events: list[Event], records: tuple[CatalogueEvent, ...], retired_at: datetime
) -> list[DecidedNudge]:
    """What the live core decided: each partition with the seeded ways until its events reach
    the retirement, the ways after it from then on, retired codes judged at decision time."""
    history = fold(records)
    seeded = fold(r for r in records if r.at < retired_at)
    nudge_core = dataclasses.replace(core(PARTITIONS), retired_codes=history.retired_codes_in)
    decided: list[DecidedNudge] = []
    with _process_ways() as follow:
        for part_events in by_partition(events, PARTITIONS).values():
            state = PartitionNudges()
            cut = next(
                (i for i, e in enumerate(part_events) if e.occurred_at >= retired_at),
                len(part_events),
            )
            follow(seeded)
            for chunk in batches(part_events[:cut], 500):
                decided += nudge_core.process(state, chunk).decided
            follow(history)
            for chunk in batches(part_events[cut:], 500, first_offset=cut):
                decided += nudge_core.process(state, chunk).decided
    return decided


@contextmanager
def _process_ways() -> Iterator[Callable[[Catalogue], bool]]:
    """The process's ways swapped as the live stage swaps them, the static table after."""
    try:
        yield guidance.follow
    finally:
        guidance.follow(Catalogue())


def test_the_live_core_changed_its_texts_and_refused_held_ones_at_the_retirement(
    live_retiring: list[DecidedNudge], retired_at: datetime
) -> None:
    """The case the back-test must reproduce is really in the day."""
    before = [d for d in live_retiring if d.request.requested_at < retired_at]
    after = [d for d in live_retiring if d.request.requested_at >= retired_at]
    assert any(HINT in d.request.text for d in before)
    assert after
    assert not any(HINT in d.request.text for d in after)
    refused = [d for d in live_retiring if d.decision.reason == "retired_service"]
    assert refused
    assert all(HINT in d.request.text for d in refused)


@pytest.mark.parametrize("rule_id", sorted(SHIPPED))
def test_the_backtest_folds_the_retirement_at_its_time_as_the_live_core_did(
    rule_id: str,
    rows: list[StoredEvent],
    live_retiring: list[DecidedNudge],
    records: tuple[CatalogueEvent, ...],
) -> None:
    ledgers = Ledgers(catalogue=records)
    replay = backtest(_plan(SHIPPED[rule_id]), rows, _recorded(live_retiring), ledgers=ledgers)
    expected = [_as_stored(d) for d in live_retiring if d.request.rule_id == rule_id]
    assert list(replay.decisions) == expected
    assert replay.report.catalogue_records == len(records)


def test_without_the_catalogue_the_backtest_would_have_sent_the_retired_code(
    rows: list[StoredEvent], live_retiring: list[DecidedNudge]
) -> None:
    """The retirement is what changed the decisions: the static ways send what it refused."""
    refused = {d.request.rule_id for d in live_retiring if d.decision.reason == "retired_service"}
    rule_id = sorted(refused)[0]
    static = backtest(_plan(SHIPPED[rule_id]), rows, _recorded(live_retiring))
    assert "retired_service" not in {d.reason for d in static.decisions}


def test_the_report_says_whether_the_text_is_published(rows: list[StoredEvent]) -> None:
    """Reported, not refused: a draft is back-tested before it is published."""
    rule = SHIPPED[sorted(SHIPPED)[0]]
    item = f"rule:{rule.id}"
    first = rows[:200]
    assert not backtest(_plan(rule), first, {}).report.publishing
    content = fold_content([seeded(item, rule.spec.template, at=datetime(2026, 3, 1, tzinfo=UTC))])
    report = backtest(_plan(rule), first, {}, ledgers=Ledgers(content=content)).report
    assert (report.publishing, report.published_version) == (True, 1)
    assert f"version 1 of {item}, published" in "\n".join(table(report))
    draft = dataclasses.replace(
        rule, spec=msgspec.structs.replace(rule.spec, template=rule.spec.template + "!")
    )
    report = backtest(_plan(draft), first, {}, ledgers=Ledgers(content=content)).report
    assert (report.publishing, report.published_version) == (True, None)
    assert f"not a published version of {item} (a draft)" in "\n".join(table(report))
