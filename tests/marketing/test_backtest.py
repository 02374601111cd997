"""The back-test core without ClickHouse: a simulated night and morning written as the sink
writes ``events`` (pseudonyms, scrubbed texts, partition and offset), folded back, must decide
exactly what the live core decided over the real events, rule by rule."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from channelhub.marketing.backtest import (
    Decided,
    Plan,
    Replay,
    StoredEvent,
    backtest,
    final_outcomes,
    rule_from_text,
    table,
)
from kernel.clock import to_ms
from kernel.pseudonym import Pseudonymizer
from orchestration.guardrails import in_holdout
from orchestration.queue_wait import QueueWaits, prediction_event
from orchestration.rules import Rule, load_rule_file, load_shipped_rules
from orchestration.rules.errors import RuleConfigError
from schemas import Event
from schemas.events import IvrQueueEntered
from schemas.nudges import DecidedNudge
from sinks.tables.events import TABLE as EVENTS
from streams.nudges import partition_policy
from tests.fixtures.services import local_settings
from tests.streams.nudge_fold import by_partition, fold, simulated

#: Midnight of 1 March in Hunan: quiet hours first, then a busy morning.
START_MS = int(datetime(2026, 2, 28, 16, 0, tzinfo=UTC).timestamp() * 1000)
PARTITIONS = 4
PSEUDONYMIZE = Pseudonymizer(b"backtest-test-key")
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
SHIPPED = {rule.id: rule for rule in load_shipped_rules()}


@pytest.fixture(scope="module")
def events() -> list[Event]:
    """The simulated day with each queued caller's predicted wait right behind their join, as
    the wait predictor writes it to the canonical topic (the in-queue rule's trigger)."""
    waits = QueueWaits()
    found: list[Event] = []
    for event in simulated(12_000, seed=7, start_ms=START_MS):
        found.append(event)
        prediction = waits.observe(event)
        if prediction is not None and isinstance(event, IvrQueueEntered):
            found.append(prediction_event(event, prediction))
    return found


@pytest.fixture(scope="module")
def live(events: list[Event]) -> list[DecidedNudge]:
    decided, _ = fold(events, PARTITIONS)
    return decided


@pytest.fixture(scope="module")
def rows(events: list[Event]) -> list[StoredEvent]:
    """The events as ``events`` holds them, ordered as the back-test reads them."""
    stored = []
    for partition, part in by_partition(events, PARTITIONS).items():
        for offset, event in enumerate(part):
            _, values = EVENTS.row(
                event, partition=partition, offset=offset, ingested_at=datetime.now(UTC),
                pseudonymize=PSEUDONYMIZE,
            )  # fmt: skip
            row = dict(zip(EVENTS.columns, values, strict=True))
            stored.append(
                StoredEvent(
                    partition, offset, row["event_id"], row["event_type"], row["channel"],
                    int(row["occurred_at"].timestamp()) * 1000 + row["occurred_ms"],
                    row["subscriber"], row["session_id"], row["prefecture"], row["brand"],
                    row["attributes"],
                )
            )  # fmt: skip
    return stored


def _recorded(live: list[DecidedNudge]) -> dict[tuple[str, str], bool]:
    """The holdout membership ``nudge_decisions`` shows (as ``history.MEMBERSHIPS`` reads it)."""
    known: dict[tuple[str, str], bool] = {}
    for d in live:
        key = (d.request.rule_id, PSEUDONYMIZE(d.request.msisdn))
        if d.decision.outcome == "holdout":
            known[key] = True
        elif d.decision.outcome == "approved" or d.decision.reason in (
            "rate_limited", "budget_exhausted",
        ):  # fmt: skip
            known.setdefault(key, False)
    return known


def _as_stored(d: DecidedNudge) -> Decided:
    send_at = d.decision.send_at
    return Decided(
        d.decision.nudge_id, PSEUDONYMIZE(d.request.msisdn), d.decision.outcome,
        d.decision.reason or "", to_ms(d.decision.decided_at),
        None if send_at is None else to_ms(send_at),
    )  # fmt: skip


def _plan(candidate: Rule, start: datetime = ALL_TIME[0]) -> Plan:
    settings = local_settings(topic_partitions=PARTITIONS, nudge_rate_per_second=50.0)
    return Plan(
        candidate=candidate, live=tuple(SHIPPED.values()), policy=partition_policy(settings),
        start=start, end=ALL_TIME[1],
    )  # fmt: skip


@pytest.mark.parametrize("rule_id", sorted(SHIPPED))
def test_each_shipped_rule_decides_exactly_as_the_live_core_did(
    rule_id: str, rows: list[StoredEvent], live: list[DecidedNudge]
) -> None:
    """Every decision, holds included, with its instant and send time, in the order made:
    requests released together at the end of quiet hours too (ties break on the nudge id)."""
    replay = backtest(_plan(SHIPPED[rule_id]), rows, _recorded(live))
    expected = [_as_stored(d) for d in live if d.request.rule_id == rule_id]
    assert expected, "the simulated day asks nothing of this rule"
    assert list(replay.decisions) == expected
    report = replay.report
    assert report.outcomes == dict(sorted(Counter(final_outcomes(expected).values()).items()))
    assert report.unreadable == 0
    assert report.holdout_drawn == 0
    assert report.requested == len({d.nudge_id for d in expected})


def test_the_simulated_day_reaches_every_kind_of_outcome(
    rows: list[StoredEvent], live: list[DecidedNudge]
) -> None:
    reasons = Counter(d.decision.reason for d in live)
    assert all(reasons[r] for r in ("not_due", "quiet_hours", "rate_limited", "holdout"))
    released = Counter(d.decision.send_at for d in live if d.decision.reason == "quiet_hours")
    assert max(released.values()) > 1, "no requests are released together: no ties to break"


def _report_checks(replay: Replay) -> None:
    report = replay.report
    finals = Counter(report.outcomes)
    assert sum(finals.values()) == report.requested
    sent = finals["approved"]
    assert sum(c.sent for c in report.by_day_prefecture) == sent
    assert sum(c.holdout for c in report.by_day_prefecture) == finals["holdout"]
    assert report.budget.messages == sent
    assert report.budget.fen == report.budget.segments * report.budget.fen_per_segment
    approved = {d.subscriber for d in replay.decisions if d.outcome == "approved"}
    assert report.nudged_subscribers == len(approved)
    assert all(o.subscribers <= report.overlap_any_rule for o in report.overlap)
    assert report.overlap_any_rule <= report.nudged_subscribers


def test_the_report_adds_up_and_prints(rows: list[StoredEvent], live: list[DecidedNudge]) -> None:
    replay = backtest(_plan(SHIPPED["survey.satisfaction"]), rows, _recorded(live))
    _report_checks(replay)
    report = replay.report
    assert report.outcomes["approved"] > 0
    assert report.overlap_any_rule > 0, "survey and self-service tips reach the same callers"
    assert [o.rule_id for o in report.overlap] == [
        r for r in report.rules if r != "survey.satisfaction"
    ]
    lines = table(report)
    assert lines[0].startswith("rule survey.satisfaction")
    assert any(line.startswith("2026-03-01") for line in lines)
    decoded = msgspec.json.decode(msgspec.json.encode(report))
    assert decoded["budget"]["messages"] == report.outcomes["approved"]


def test_a_new_rule_draws_its_holdout_from_the_pseudonym(
    rows: list[StoredEvent], live: list[DecidedNudge], tmp_path: Path
) -> None:
    """A rule the live stage never ran has no recorded membership: the same share is drawn
    from the pseudonym, and the report says how many were drawn."""
    source = Path(SHIPPED["ivr.long_agent_wait"].source).read_text(encoding="utf-8")
    path = tmp_path / "zz_wait.toml"
    path.write_text(
        source.replace('"ivr.long_agent_wait"', '"ivr.wait_trial"')
        .replace("value = 60", "value = 30")
        .replace("holdout_share = 0.1", "holdout_share = 0.5")
        .replace('[rule]\n', "[rule]\nenabled = false\n"),
        encoding="utf-8",
    )  # fmt: skip
    replay = backtest(_plan(load_rule_file(path)), rows, _recorded(live))
    report = replay.report
    assert report.rules[-1] == "ivr.wait_trial", "sorted by file name among the live rules"
    assert report.holdout_observed == 0
    assert report.holdout_drawn > 0
    assert report.outcomes["holdout"] > 0
    for d in replay.decisions:
        if d.outcome in ("approved", "holdout"):
            assert (d.outcome == "holdout") == in_holdout("ivr.wait_trial", d.subscriber, 0.5)
    _report_checks(replay)


def test_an_edited_rule_takes_its_live_namesakes_place(tmp_path: Path) -> None:
    original = SHIPPED["ivr.long_agent_wait"]
    path = tmp_path / "any_name.toml"
    path.write_text(
        Path(original.source).read_text(encoding="utf-8").replace("value = 60", "value = 90"),
        encoding="utf-8",
    )
    plan = _plan(load_rule_file(path))
    assert [r.id for r in plan.rules()] == list(SHIPPED)
    assert plan.observable() == frozenset(SHIPPED)
    changed = path.read_text(encoding="utf-8").replace("holdout_share = 0.1", "holdout_share = 0.2")
    path.write_text(changed, encoding="utf-8")
    assert "ivr.long_agent_wait" not in _plan(load_rule_file(path)).observable()


def test_only_requests_in_the_window_are_reported(
    rows: list[StoredEvent], live: list[DecidedNudge]
) -> None:
    """The hours before the window are folded (caps and holds carry over) but not reported."""
    start = datetime.fromtimestamp(START_MS / 1000, UTC) + timedelta(hours=8)
    rule = SHIPPED["survey.satisfaction"]
    replay = backtest(_plan(rule, start), rows, _recorded(live))
    mine = [d for d in live if d.request.rule_id == rule.id]
    expected = [_as_stored(d) for d in mine if d.request.requested_at >= start]
    assert expected
    assert list(replay.decisions) == expected


def test_a_row_that_no_longer_decodes_is_counted_not_guessed(rows: list[StoredEvent]) -> None:
    broken = rows[0]._replace(event_id="msisdn:k1.0123456789abcdef0123456789abcdef")
    replay = backtest(_plan(SHIPPED["survey.satisfaction"]), [broken, *rows[1:3]], {})
    assert (replay.report.events, replay.report.unreadable) == (3, 1)


def test_a_pasted_rule_loads_as_its_file_would(tmp_path: Path) -> None:
    original = SHIPPED["ivr.long_agent_wait"]
    text = Path(original.source).read_text(encoding="utf-8")
    pasted = rule_from_text(text, "edited.toml")
    assert (pasted.spec, pasted.source) == (original.spec, "edited.toml")


def test_a_bad_pasted_rule_is_the_loaders_one_line_error() -> None:
    with pytest.raises(RuleConfigError) as raised:
        rule_from_text("version = 1\n[rule]\nid = 'x'\n", "mine.toml")
    assert str(raised.value).startswith("mine.toml: rule 'x', field rule.")
    assert "\n" not in str(raised.value)
