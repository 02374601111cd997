"""Measured uplift against the truth, on the whole nudge loop.

A seeded morning runs through the worker (validation and nudges), the dispatcher (file
gateway) and the sink; once it is decided, simulated handsets answer the SMS they are sent
with a known probability. One rule, ``agent.self_service_next_time``, holds out half its
subscribers. The truth is computed here, independently of the attribution code: for every
exposure of that rule (sent or held out), whether the subscriber's own simulated traffic
already uses the suggested function in the window, and whether the handset would answer the
SMS. ClickHouse's ``nudge_uplift`` row for the rule must count exactly those conversions per
group, and its 95% interval must contain the true average effect.
"""

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from channelhub.platform.env import settings_env
from channelhub.platform.health import tcp_open
from channelhub.simulator.engine import Engine, Scenario
from channelhub.simulator.handsets.answers import responses
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from orchestration.rules import SHIPPED_RULES_DIR
from orchestration.rules.guidance import way_for
from schemas import Event, Rejection, validate
from schemas.nudges import Dispatch
from sinks import migrations
from sinks.client import connect
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import group_lag, stage_inputs, wait_for

pytestmark = pytest.mark.integration

RULE = "agent.self_service_next_time"
START, EVENTS, SEED = "2026-03-02T00:00:00Z", "40000", "3"  # 08:00 to 14:00 in Hunan
PROBABILITY, HANDSET_SEED = 0.4, 17


def _natural_use(event: Event, item: str) -> bool:
    """Whether the simulator's own event is a successful self-service use of ``item``."""
    way, a = way_for(item), getattr(event, "attributes", None)
    kind = event.event_type
    if kind == "web.function_used":
        return a.function == way.web_function  # type: ignore[union-attr]
    if kind == "wap.function_used":
        return a.function == way.wap_function  # type: ignore[union-attr]
    if kind == "ivr.self_service_completed":
        return bool(a.item == item and a.success)  # type: ignore[union-attr]
    if kind in ("sms.service_completed", "kiosk.service_completed"):
        return bool(a.service == item and a.success)  # type: ignore[union-attr]
    return False


def test_the_measured_uplift_interval_contains_the_true_effect(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    tmp_path: Path,
) -> None:  # fmt: skip
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED_RULES_DIR, rules)
    path = rules / "agent_self_serviceable.toml"
    path.write_text(path.read_text("utf-8").replace("holdout_share = 0.1",
                                                     "holdout_share = 0.5"), "utf-8")  # fmt: skip
    settings = settings.model_copy(update={
        "rules_dir": rules, "handset_response_probability": PROBABILITY,
        "handset_seed": HANDSET_SEED,
    })  # fmt: skip
    migrations.migrate(settings)
    start_service("worker", "streams", settings,
                  health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120)  # fmt: skip
    dispatcher = tcp_open("127.0.0.1", settings.dispatcher_web_port)
    start_service("dispatcher", "streams", settings, "--stage", "dispatch", health=dispatcher,
                  timeout=120)  # fmt: skip
    start_service("sink", "sinks", settings)
    simulator = subprocess.run(
        [sys.executable, "-m", "channelhub.simulator", "--events", EVENTS, "--start", START,
         "--seed", SEED],
        env={**os.environ, **settings_env(settings)}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert simulator.returncode == 0, simulator.stderr
    # The handsets answer once the morning has been decided: an answer stamped later than the
    # backlog still to be read would move its partition's event time ahead of it, and what the
    # morning's requests become would then depend on how fast each process ran.
    inputs = stage_inputs(settings)
    wait_for(
        lambda: not any(
            group_lag(settings.kafka_bootstrap, f"{settings.group_prefix}-{stage}", inputs[stage])
            for stage in ("validate", "nudges")
        ),
        "validation and the nudge stage to read the simulated morning",
    )
    start_service("handsets", "channelhub.simulator.handsets", settings, "--population-seed",
                  SEED)  # fmt: skip
    client = connect(settings)

    def scalar(sql: str) -> int:
        ((n,),) = client.execute(sql)
        return int(n)

    # The truth, from the simulator's own traffic and the handsets' deterministic answers.
    population = _population(int(SEED))
    simulated = _simulated(START, int(EVENTS), int(SEED))
    requests = {n: (m, g) for n, m, g in _requests(simulated)}
    by_pseudonym = {}
    pseudonymize = Pseudonymizer.from_settings(settings)
    traffic: dict[str, list[Event]] = {}
    for event in simulated:
        if event.msisdn is not None:
            traffic.setdefault(event.msisdn, []).append(event)
            by_pseudonym[pseudonymize(event.msisdn)] = event.msisdn

    def answers(nudge_id: str, msisdn: str, goal: str, at: datetime) -> list[Event]:
        dispatch = Dispatch(
            nudge_id=nudge_id, rule_id="", msisdn=msisdn, text="", goal=goal, status="sent",
            gateway="file", approved_at=at, dispatched_at=at,
        )  # fmt: skip
        found = responses(dispatch, seed=HANDSET_SEED, probability=PROBABILITY,
                          population=population)  # fmt: skip
        return [e for e in map(validate, found) if not isinstance(e, Rejection)]

    def sent() -> list[tuple[str, str, str, int]]:
        rows = client.execute(
            "SELECT nudge_id, any(subscriber), any(goal), "
            "any(toUInt64(approved_at) * 1000 + approved_ms) FROM nudge_dispatches "
            "WHERE status = 'sent' GROUP BY nudge_id"
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]

    groups = [
        (f"{settings.group_prefix}-{stage}", topics)
        for stage, topics in stage_inputs(settings).items()
        if stage != "campaigns"
    ]
    groups.append((f"{settings.group_prefix}-handsets", [settings.topic_nudges_dispatches]))

    def settled() -> bool:
        """Every stage and the handsets caught up, every approval dispatched, every handset
        answer to them in ClickHouse, and no new conversion for a few seconds. (Answers go
        back to the raw topic, so the stages form a loop: lag zero once is not enough.)"""
        if any(group_lag(settings.kafka_bootstrap, g, topics) for g, topics in groups):
            return False
        approved = scalar(
            "SELECT uniqExact(nudge_id) FROM nudge_decisions WHERE outcome = 'approved'"
        )
        dispatched = sent()
        answered = sum(
            len(answers(n, by_pseudonym[s], g, datetime.fromtimestamp(ms / 1000, UTC)))
            for n, s, g, ms in dispatched
        )
        conversions = scalar("SELECT count() FROM nudge_conversions")
        time.sleep(3)
        return (
            approved == len(dispatched) == len(sent())
            and scalar("SELECT count() FROM events") == int(EVENTS) + answered
            and scalar("SELECT count() FROM nudge_conversions") == conversions
        )

    wait_for(settled, "every approval dispatched and answered, and attribution to settle")
    # Every SMS really sent was answered by its handset as the pure function says, whatever
    # its rule: an answer to another rule's SMS can use the same function too.
    for nudge_id, subscriber, goal, at_ms in sent():
        msisdn = by_pseudonym[subscriber]
        at = datetime.fromtimestamp(at_ms / 1000, UTC)
        traffic[msisdn] += answers(nudge_id, msisdn, goal, at)

    exposures = client.execute(
        "SELECT nudge_id, any(outcome), any(toUInt64(decided_at) * 1000 + decided_ms) "
        "FROM nudge_decisions WHERE rule_id = %(r)s AND outcome IN ('approved', 'holdout') "
        "GROUP BY nudge_id",
        {"r": RULE},
    )
    expected = {"approved": [0, 0], "holdout": [0, 0]}  # exposures, conversions
    effects = []
    for nudge_id, outcome, decided_ms in exposures:
        msisdn, goal = requests[nudge_id]
        item, hours = goal.split(":")[1], int(goal.split(":")[2].rstrip("h"))
        start = datetime.fromtimestamp(decided_ms / 1000, UTC)
        end = start + timedelta(hours=hours)
        own = answers(nudge_id, msisdn, goal, start)
        own_ids = {e.event_id for e in own}
        other = any(
            start <= e.occurred_at <= end and _natural_use(e, item)
            for e in traffic[msisdn] if e.event_id not in own_ids
        )  # fmt: skip
        answered = any(_natural_use(e, item) for e in own)
        expected[outcome][0] += 1
        expected[outcome][1] += other or (answered and outcome == "approved")
        effects.append(answered and not other)
    truth = sum(effects) / len(effects)

    ((n_sent, x_sent, n_hold, x_hold, uplift, low, high),) = client.execute(
        "SELECT n_sent, conv_sent, n_holdout, conv_holdout, uplift, ci_low, ci_high "
        "FROM nudge_uplift WHERE rule_id = %(r)s",
        {"r": RULE},
    )
    assert [n_sent, x_sent] == expected["approved"]
    assert [n_hold, x_hold] == expected["holdout"]
    assert (
        min(n_sent, n_hold) > 80
    )  # about a hundred each: enough for the interval to mean something
    assert low <= truth <= high, (truth, uplift, low, high)
    assert 0.15 < truth < 0.45  # the handsets' 40%, less the uses that would happen anyway


def _simulated(start: str, events: int, seed: int) -> list[Event]:
    start_ms = int(datetime.fromisoformat(start).timestamp() * 1000)
    decoded = []
    for _, emitted in zip(range(events), Engine(Scenario(seed=seed, start_ms=start_ms)),
                          strict=False):  # fmt: skip
        event = validate(emitted.payload)
        assert not isinstance(event, Rejection)
        decoded.append(event)
    return decoded


def _requests(simulated: list[Event]) -> list[tuple[str, str, str]]:
    """(nudge id, MSISDN, goal) of the rule's requests, recomputed from the same traffic."""
    from orchestration.journey import Journey, apply
    from orchestration.rules import evaluate, load_rules

    rules = [r for r in load_rules(SHIPPED_RULES_DIR)[0] if r.id == RULE]
    journeys: dict[str, Journey] = {}
    found = []
    for event in simulated:
        if event.msisdn is None:
            continue
        journey = journeys.get(event.msisdn, Journey())
        found += [(r.nudge_id, r.msisdn, r.goal) for r in evaluate(rules, event, journey)]
        journeys[event.msisdn] = apply(journey, event)
    return found


def _population(seed: int) -> Any:
    return Engine(Scenario(seed=seed, start_ms=0)).population
