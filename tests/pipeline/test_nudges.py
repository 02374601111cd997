"""The nudge stage on the real services: simulator → worker → nudge topics → sink → ClickHouse.

The nudges and decisions in ClickHouse must equal an independent recomputation: the same
seeded simulation (``--output ndjson``) folded through the pure core partition by partition,
as the worker's partitions see it. Replaying the raw topic adds nothing; a worker killed with
SIGKILL mid-run and restarted ends with the same result, each nudge approved once, and the
nudges it held before the crash decided after it.
"""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from clickhouse_driver import Client
from kafka import KafkaAdminClient

from channelhub.platform.env import settings_env
from channelhub.platform.health import tcp_open
from channelhub.platform.process import ManagedProcess
from kernel.clock import to_ms
from kernel.settings import Settings
from schemas import Event, Rejection, validate
from sinks import migrations
from sinks.client import connect
from tests.fixtures.services import StartService, Topics, sigkill_and_restart
from tests.fixtures.waiting import wait_for, wait_until_settled
from tests.streams.nudge_fold import fold

pytestmark = pytest.mark.integration

START = "2026-02-28T16:00:00Z"  # midnight in Hunan: quiet hours, then the morning rush
EVENTS = "20000"

Decided = tuple[str, str, str, int]  # nudge id, outcome, reason, decided at (epoch ms)


def _simulate(settings: Settings, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "channelhub.simulator", "--events", EVENTS, "--start", START,
         *args],
        env={**os.environ, **settings_env(settings)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip


def _finish(simulator: subprocess.Popen[str], timeout: float = 300) -> None:
    out, _ = simulator.communicate(timeout=timeout)
    assert simulator.returncode == 0, out


def _expected(settings: Settings, seed: str, path: Path) -> tuple[set[str], set[Decided]]:
    """The nudge ids and decisions recomputed from the simulator's own output."""
    _finish(_simulate(settings, "--seed", seed, "--output", "ndjson", "--file", str(path)))
    events: list[Event] = []
    for line in path.read_bytes().splitlines():
        event = validate(line)
        assert not isinstance(event, Rejection)
        events.append(event)
    decided, _ = fold(events, settings.topic_partitions, rate=settings.nudge_rate_per_second)
    requests = {d.request.nudge_id for d in decided}
    decisions: set[Decided] = {
        (d.decision.nudge_id, d.decision.outcome, d.decision.reason or "",
         to_ms(d.decision.decided_at))
        for d in decided
    }  # fmt: skip
    return requests, decisions


def _stored(client: Client) -> tuple[set[str], set[Decided], int, int]:
    requests = {i for (i,) in client.execute("SELECT nudge_id FROM nudge_requests")}
    rows = client.execute(
        "SELECT nudge_id, outcome, reason, toUInt64(decided_at) * 1000 + decided_ms "
        "FROM nudge_decisions"
    )
    ((request_rows,),) = client.execute("SELECT count() FROM nudge_requests")
    return requests, {tuple(r) for r in rows}, request_rows, len(rows)  # type: ignore[misc]


def _assert_exact(
    settings: Settings, client: Client, requests: set[str], decisions: set[Decided]
) -> None:
    wait_until_settled(settings, timeout=180)
    got_requests, got_decisions, request_rows, decision_rows = _stored(client)
    assert got_requests == requests
    assert got_decisions == decisions
    assert (request_rows, decision_rows) == (len(requests), len(decisions))
    approved = Counter(n for n, outcome, _, _ in got_decisions if outcome == "approved")
    assert max(approved.values()) == 1


def _start(settings: Settings, start_service: StartService) -> ManagedProcess:
    migrations.migrate(settings)
    worker = start_service(
        "worker", "streams", settings,
        health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120,
    )  # fmt: skip
    start_service("sink", "sinks", settings)
    return worker


def test_nudges_match_a_recomputation_and_a_replay_adds_nothing(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    tmp_path: Path,
) -> None:  # fmt: skip
    _start(settings, start_service)
    simulator = _simulate(settings, "--seed", "7")
    requests, decisions = _expected(settings, "7", tmp_path / "day.ndjson")
    reasons = Counter(reason for _, _, reason, _ in decisions)
    assert all(reasons[r] for r in ("not_due", "quiet_hours", "rate_limited", "holdout"))
    _finish(simulator)
    client = connect(settings)
    _assert_exact(settings, client, requests, decisions)

    _finish(_simulate(settings, "--seed", "7"))  # the same raw events again: a replay
    wait_for(lambda: _nudged(settings) >= 2 * int(EVENTS), "the stage to read the replay", 120)
    _assert_exact(settings, client, requests, decisions)


def _nudged(settings: Settings) -> int:
    """Events the nudge stage has committed (exact, unlike Tansu's high watermarks)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    group = f"{settings.group_prefix}-nudges"
    try:
        offsets = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    return sum(o.offset for tp, o in offsets.items() if tp.topic == settings.topic_events)


def test_sigkill_of_the_worker_keeps_every_decision_and_held_nudge(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    tmp_path: Path,
) -> None:  # fmt: skip
    worker = _start(settings, start_service)
    client = connect(settings)
    simulator = _simulate(settings, "--seed", "11", "--rate", "2500")
    requests, decisions = _expected(settings, "11", tmp_path / "day.ndjson")
    wait_for(lambda: len(_stored(client)[1]) > len(decisions) // 4, "the first decisions", 120)
    held_before = {n for n, outcome, _, _ in _stored(client)[1] if outcome == "held"}
    sigkill_and_restart(worker)
    _finish(simulator)
    _assert_exact(settings, client, requests, decisions)
    decided_later = {
        n for n, outcome, _, _ in _stored(client)[1] if n in held_before and outcome != "held"
    }
    assert decided_later, "no nudge held before the crash was decided after it"
