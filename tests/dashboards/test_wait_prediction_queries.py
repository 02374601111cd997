"""Predicted against actual waits, and an in-queue rule's effect, against the real ClickHouse:
every number recomputed here from the records inserted, following the definitions in
:mod:`dashboards.queries.wait_predictions`, not its SQL."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from dashboards import db
from dashboards.queries import wait_predictions
from dashboards.queries.wait_predictions import Difference, difference
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from schemas.nudges import DecidedNudge, Decision, NudgeRequest
from sinks.client import connect
from sinks.tables import nudge_decisions, nudge_requests
from tests.dashboards.queue_data import Call, RawEvent, insert_raw, random_calls

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 10, 4, 7, 33, tzinfo=UTC)
RULE = "ivr.predicted_long_wait"


def _quantile(values: list[float], level: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(level * len(ordered)), len(ordered) - 1)]


def _predicted(call: Call, rng: random.Random) -> RawEvent:
    return RawEvent("ivr.wait_predicted", call.session, call.prefecture, call.entered,
                    {"queue": "agents", "position": 1,
                     "predicted_wait_s": round(rng.uniform(0, 120), 3)})  # fmt: skip


@pytest.fixture
def history(migrated: Settings) -> tuple[list[Call], dict[str, RawEvent]]:
    """Three hours of calls, most with a prediction, plus a few on the window's edges."""
    rng = random.Random(7)
    calls = random_calls(1500, NOW - timedelta(hours=3), NOW, seed=5)
    calls += [
        # joined 70 min before now, answered 10 min before: the prediction is an hour older
        Call("loudi", NOW - timedelta(minutes=70), "answered", wait_s=3600.0, talk_s=10),
        # answered exactly at now: not yet
        Call("changsha", NOW - timedelta(seconds=40), "answered", wait_s=40.0, talk_s=5),
    ]
    predictions = {c.session: _predicted(c, rng) for c in calls if rng.random() < 0.8}
    raw = [e for c in calls for e in c.events()]
    insert_raw(migrated, raw[: len(raw) // 2])
    insert_raw(migrated, [*raw[len(raw) // 2 :], *predictions.values()])
    return calls, predictions


def _expected_accuracy(
    calls: list[Call], predictions: dict[str, RawEvent], start: datetime
) -> wait_predictions.Accuracy:
    errors, abandoned, consistent = [], 0, 0
    for c in calls:
        p = predictions.get(c.session)
        if p is None or c.outcome == "waiting":
            continue
        left = c.entered + timedelta(seconds=c.wait_s)
        joined_from = start - timedelta(hours=1)
        if not (int(start.timestamp()) <= int(left.timestamp()) < int(NOW.timestamp())):
            continue
        if int(p.occurred_at.timestamp()) < int(joined_from.timestamp()):
            continue
        predicted = p.attributes["predicted_wait_s"]
        if c.outcome == "abandoned":
            abandoned += 1
            consistent += predicted >= c.wait_s
        else:
            errors.append(predicted - c.wait_s)
    absolute = [abs(e) for e in errors]
    return wait_predictions.Accuracy(
        answered=len(errors),
        abs_error_p50_s=_quantile(absolute, 0.5),
        abs_error_p90_s=_quantile(absolute, 0.9),
        bias_s=sum(errors) / len(errors),
        abandoned=abandoned,
        abandoned_consistent=consistent,
    )


@pytest.mark.parametrize("window", [timedelta(minutes=15), timedelta(hours=1)])
def test_accuracy_equals_python(
    migrated: Settings, history: tuple[list[Call], dict[str, RawEvent]], window: timedelta
) -> None:
    calls, predictions = history
    with db.client(migrated) as client:
        got = wait_predictions.accuracy(client, NOW - window, NOW)
    want = _expected_accuracy(calls, predictions, NOW - window)
    assert got.answered == want.answered > 20
    assert got.abandoned == want.abandoned > 0
    assert got.abandoned_consistent == want.abandoned_consistent
    assert got.abs_error_p50_s == pytest.approx(want.abs_error_p50_s, abs=1e-6)
    assert got.abs_error_p90_s == pytest.approx(want.abs_error_p90_s, abs=1e-6)
    assert got.bias_s == pytest.approx(want.bias_s, abs=1e-6)


def test_no_prediction_no_error(migrated: Settings) -> None:
    with db.client(migrated) as client:
        got = wait_predictions.accuracy(client, NOW - timedelta(hours=1), NOW)
    assert got == wait_predictions.Accuracy(0, None, None, None, 0, 0)


def test_effect_counts_the_calls_of_each_arm(
    migrated: Settings, history: tuple[list[Call], dict[str, RawEvent]]
) -> None:
    calls, predictions = history
    rng = random.Random(3)
    start, end = NOW - timedelta(hours=2), NOW
    requests, decisions = [], []
    arms: dict[str, list[str]] = {"approved": [], "holdout": []}
    for i, c in enumerate(calls):
        p = predictions.get(c.session)
        if p is None:
            continue
        nudge = NudgeRequest(
            nudge_id=f"n{i:05d}", rule_id=RULE, trigger_event_id=p.event_id,
            msisdn=f"1380000{i % 10_000:04d}", prefecture="changsha", brand="gotone",
            text="x", goal="uses_self_service:suggested:24h", requested_at=c.entered,
            send_at=c.entered,
        )  # fmt: skip
        fate = rng.choice(["approved", "approved", "holdout", "suppressed"])
        requests.append(nudge)
        if rng.random() < 0.3:  # held first: the last decision is the fate
            decisions.append(_decided(nudge, "held", "live_call", c.entered))
        decisions.append(_decided(nudge, fate, None if fate == "approved" else "holdout"
                                  if fate == "holdout" else "frequency_cap_day",
                                  c.entered + timedelta(seconds=1)))  # fmt: skip
        if fate == "approved" and rng.random() < 0.2:
            decisions.append(_decided(nudge, "suppressed", "duplicate",
                                      c.entered + timedelta(seconds=2)))  # fmt: skip
        if fate in arms and start <= c.entered < end:
            arms[fate].append(c.outcome)
    _insert(migrated, requests, decisions)
    with db.client(migrated) as client:
        got = wait_predictions.effect(client, RULE, start, end)
    treated, holdout = arms["approved"], arms["holdout"]
    assert (got.treated_calls, got.holdout_calls) == (len(treated), len(holdout))
    assert len(holdout) > 50
    assert got.abandonment == difference(treated.count("abandoned"), len(treated),
                                         holdout.count("abandoned"), len(holdout))  # fmt: skip
    assert got.agent_answered == difference(treated.count("answered"), len(treated),
                                            holdout.count("answered"), len(holdout))  # fmt: skip
    with db.client(migrated) as client:
        assert wait_predictions.in_queue_rules(client) == [RULE]


def _decided(request: NudgeRequest, outcome: str, reason: str | None, at: datetime) -> DecidedNudge:
    decision = Decision(nudge_id=request.nudge_id, outcome=outcome,  # type: ignore[arg-type]
                        reason=reason, decided_at=at)  # fmt: skip
    return DecidedNudge(request=request, decision=decision)


def _insert(settings: Settings, requests: list[NudgeRequest], decided: list[DecidedNudge]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    pz = Pseudonymizer(b"k")
    client = connect(settings)
    try:
        for table, records in ((nudge_requests, requests), (nudge_decisions, decided)):
            rows = [table.TABLE.row(r, partition=0, offset=o, ingested_at=now,  # type: ignore[arg-type]
                                    pseudonymize=pz)[1] for o, r in enumerate(records)]  # fmt: skip
            client.execute(table.TABLE.insert.format(db=settings.clickhouse_database), rows)
    finally:
        client.disconnect()


def test_difference_has_newcombe_s_interval() -> None:
    # Newcombe (1998), table II, example (a): 56/70 against 48/80 → 0.2, 95% CI 0.0524 to 0.3339.
    d = difference(56, 70, 48, 80)
    assert d.difference == pytest.approx(0.2)
    assert (round(d.ci_low or 0, 4), round(d.ci_high or 0, 4)) == (0.0524, 0.3339)
    assert difference(0, 0, 3, 10) == Difference(None, 0.3, None, None, None)
