"""The fault suite's oracle agrees with the nudge core: on simulated days, and on hand-made
scenarios that reach what a simulated day does not (opt-out replies, quiet hours released at
08:00, caps, live calls, a saturated gateway, replayed events).

Agreement of two independent computations is the evidence that each is right; when they
disagree, the scenario says which rule of the specification to read.
"""

import ast
import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channelhub.simulator.engine import Emitted, Engine, Scenario
from kernel.clock import to_ms
from schemas import Event, Rejection, validate
from schemas.nudges import nudge_id
from tests.faults import oracle
from tests.faults.oracle import Decided
from tests.faults.pipeline import expected_decisions
from tests.fixtures.services import local_settings
from tests.orchestration.events import make
from tests.streams.nudge_fold import fold

#: Local (UTC+8) start times that put quiet hours' start, end and the day between in range.
STARTS = {
    1: datetime(2026, 3, 2, 11, 0, tzinfo=UTC),  # 19:00 local: into quiet hours at 21:00
    2: datetime(2026, 3, 1, 22, 0, tzinfo=UTC),  # 06:00 local: the 08:00 release
    3: datetime(2026, 3, 31, 1, 0, tzinfo=UTC),  # 09:00 local, the busy end of the month
}


def _core(events: list[Event], partitions: int, rate: float) -> set[Decided]:
    """The nudge core's decisions, as :func:`expected_decisions` used to compute them."""
    decided, _ = fold(events, partitions, rate=rate)
    return {
        (d.decision.nudge_id, d.decision.outcome, d.decision.reason or "",
         to_ms(d.decision.decided_at))
        for d in decided
    }  # fmt: skip


def _agreed(events: list[Event], partitions: int = 1, rate: float = 50.0) -> set[Decided]:
    got = oracle.decisions(events, partitions, rate)
    want = _core(events, partitions, rate)
    assert got == want, (sorted(got - want)[:10], sorted(want - got)[:10])
    return got


def _day(events: int, seed: int, start: datetime) -> list[Emitted]:
    engine = Engine(Scenario(seed=seed, start_ms=int(start.timestamp() * 1000)))
    return [e for _, e in zip(range(events), engine, strict=False)]


def _decoded(emitted: list[Emitted]) -> list[Event]:
    events = []
    for e in emitted:
        event = validate(e.payload)
        assert not isinstance(event, Rejection)
        events.append(event)
    return events


def _reasons(decided: set[Decided]) -> Counter[str]:
    return Counter(reason or outcome for _, outcome, reason, _ in decided)


def test_the_oracle_imports_nothing_that_decides() -> None:
    tree = ast.parse(Path(oracle.__file__).read_text(encoding="utf-8"))
    imported = {
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
         for alias in node.names}  # fmt: skip
    forbidden = (
        "streams", "tests.streams", "orchestration.guardrails", "orchestration.journey",
        "orchestration.conversions", "orchestration.rules.evaluate",
        "orchestration.rules.compile", "orchestration.rules.fields",
    )  # fmt: skip
    assert not {m for m in imported if m.startswith(forbidden)}, imported


@pytest.mark.parametrize("partitions", [4, 16])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("events", [5_000, 20_000])
def test_simulated_days_agree(events: int, seed: int, partitions: int) -> None:
    """The fault suite's settings (4 partitions, the default 50 SMS/s), and 16 partitions,
    whose share of the gateway (3.125/s, bursts of 3) keeps the rate limit busy."""
    settings = local_settings(topic_partitions=partitions)
    emitted = _day(events, seed, STARTS[seed])
    got = expected_decisions(emitted, settings)
    assert got == _core(_decoded(emitted), partitions, settings.nudge_rate_per_second)
    assert _reasons(got)["approved"] > 0


def test_a_whole_day_agrees_in_reach_of_every_reason_and_in_seconds() -> None:
    """100k events (23 h, the size of the suite's SIGKILL scenario) take the oracle seconds
    and, over midnight on 16 partitions, reach every outcome the shipped rules can have."""
    settings = local_settings(topic_partitions=16)
    emitted = _day(100_000, 31, datetime(2026, 3, 31, 4, 0, tzinfo=UTC))  # noon, local
    started = time.perf_counter()
    got = expected_decisions(emitted, settings)
    assert time.perf_counter() - started < 30
    assert got == _core(_decoded(emitted), 16, settings.nudge_rate_per_second)
    reasons = _reasons(got)
    for reason in (
        "approved", "holdout", "not_due", "quiet_hours", "in_live_call", "rate_limited",
        "opted_out", "expired", "frequency_cap_rule_day", "frequency_cap_rule_week",
        "frequency_cap_day",
    ):  # fmt: skip
        assert reasons[reason] > 0, (reason, reasons)


def test_a_day_delivered_at_least_once_and_out_of_order_agrees() -> None:
    """Events delivered seconds to an hour late, behind the watermark and the subscriber's
    newer events, and copies delivered again as much later (dropped as recent, ignored as
    replays, or asked again while held)."""
    rng = random.Random(5)
    delivered = _decoded(_day(20_000, 5, STARTS[1]))  # about 4,000 events an hour
    for _ in range(2_000):
        i, later = rng.randrange(len(delivered)), rng.choice([1, 50, 500, 4_000])
        delivered.insert(i + later, delivered.pop(i))
        i, later = rng.randrange(len(delivered)), rng.choice([1, 50, 500, 4_000])
        delivered.insert(i + later, delivered[i])
    assert _reasons(_agreed(delivered, partitions=4))["approved"] > 0


# --- hand-made scenarios: T0 is 10:00 in Hunan; ``at`` is seconds after it ----------------


def _handled(at: float, msisdn: str, session: str = "call-1") -> Event:
    attributes = {
        "agent_id": "A0001", "topic": "query.monthly_bill", "resolved": True, "handle_s": 120.0,
        "self_serviceable": True,
    }  # fmt: skip
    return make("agent.request_handled", attributes, at, msisdn=msisdn, session_id=session)


def _sms(text: str, at: float, msisdn: str) -> Event:
    attributes = {"text": text, "matched_code": None, "match_kind": "unknown"}
    return make("sms.message_received", attributes, at, msisdn=msisdn, session_id=f"sms-{at}")


def _charges_query(at: float, msisdn: str) -> Event:
    attributes = {"key_path": "1-1", "item": "query.realtime_charges", "success": True}
    return make("ivr.self_service_completed", attributes, at, msisdn=msisdn,
                session_id=f"ivr-{at}")  # fmt: skip


def _web(at: float, msisdn: str) -> Event:
    return make("web.function_used", {"function": "bill.monthly"}, at, msisdn=msisdn,
                session_id="web-1")  # fmt: skip


def _of(decided: set[Decided], *triggers: Event) -> Counter[tuple[str, str]]:
    """How often each (outcome, reason) was decided for the nudges ``triggers`` asked for."""
    ids = {nudge_id(rule.id, t.event_id) for t in triggers for rule in oracle.read_rules()}
    return Counter((outcome, reason) for nudge, outcome, reason, _ in decided if nudge in ids)


def test_an_opt_out_reply_stops_what_it_names_and_only_that() -> None:
    events = [
        _sms("t d!", 0, "13800000001"),  # any spelling of TD: everything stops
        _sms("退订 0101", 0, "13800000002"),  # one code, which no shipped rule lists
        _sms("怎么退订", 0, "13800000003"),  # a question, not an opt-out
    ]
    triggers = [_handled(60, m) for m in ("13800000001", "13800000002", "13800000003")]
    decided = _agreed([*events, *triggers, _web(3_600, "13800000009")])
    assert set(_of(decided, triggers[0])) == {("suppressed", "opted_out")}
    assert ("suppressed", "opted_out") not in _of(decided, triggers[1], triggers[2])
    assert ("held", "not_due") in _of(decided, triggers[1])


def test_an_opt_out_that_arrives_late_still_stops_every_later_nudge() -> None:
    m = "13800000004"
    newer = _web(3_600, m)
    late_td = _sms("TD", 0, m)  # sent an hour before the web visit, delivered after it
    trigger = _handled(3_700, m)
    decided = _agreed([newer, late_td, trigger, _web(7_200, "13800000009")])
    assert set(_of(decided, trigger)) == {("suppressed", "opted_out")}


def test_quiet_hours_hold_until_eight_and_drop_what_is_worthless_late() -> None:
    handled = _handled(10 * 3600 + 55 * 60, "13800000011")  # 20:55: due at 21:05, quiet
    copy = _charges_query(11 * 3600 + 10 * 60, "13800000012")  # 21:10: a copy is dropped
    morning = _web(22 * 3600 + 30, "13800000013")  # 08:00:30 the next day releases
    decided = _agreed([handled, copy, morning])
    held = set(_of(decided, handled))
    assert {("held", "not_due"), ("held", "quiet_hours")} <= held
    assert held & {("approved", ""), ("holdout", "holdout")}
    assert set(_of(decided, copy)) == {("suppressed", "quiet_hours")}
    released = {at for nudge, outcome, _, at in decided if outcome in ("approved", "holdout")}
    assert released == {to_ms(morning.occurred_at)}  # at the watermark, not at 08:00 sharp


def test_caps_per_rule_and_across_rules_per_local_day() -> None:
    m = "13800000021"
    first, second = _handled(0, m, "call-1"), _handled(3_600, m, "call-2")
    copies = [_charges_query(7_200 + 60 * i, m) for i in range(4)]
    decided = _agreed([first, second, *copies, _web(9_000, "13800000029")])
    assert ("suppressed", "frequency_cap_rule_day") in _of(decided, second)
    assert ("suppressed", "frequency_cap_day") in _of(decided, *copies)


def test_a_held_nudge_waits_out_the_live_call() -> None:
    m = "13800000031"
    events = [
        make("ivr.call_started", {"lead_in_variant": "x", "busy_period": True}, 0, msisdn=m),
        make("ivr.menu_selected", {"key_path": "1-2", "item": "query.monthly_bill"}, 10,
             msisdn=m),
        make("ivr.agent_requested", {"key_path": "1-2-0", "topic": "query.monthly_bill"}, 20,
             msisdn=m),
        make("ivr.queue_entered", {"queue": "general", "position": 3, "busy_period": True}, 30,
             msisdn=m),
        make("ivr.agent_answered", {"agent_id": "A0001", "wait_s": 90.0}, 120, msisdn=m),
        make("ivr.menu_selected", {"key_path": "1-1", "item": "query.points"}, 500, msisdn=m),
        make("ivr.call_ended", {"duration_s": 590.0, "outcome": "agent"}, 600, msisdn=m),
        _web(700, "13800000039"),
    ]  # fmt: skip
    decided = _agreed(events)
    assert {("held", "not_due"), ("held", "in_live_call")} <= set(_of(decided, events[4]))


def test_a_saturated_gateway_queues_requests_one_token_apart() -> None:
    queries = [_charges_query(0, f"138000001{i:02d}") for i in range(12)]
    later = [_web(at, "13800000199") for at in (5, 10, 20, 40)]
    decided = _agreed([*queries, *later], rate=0.5)
    assert _reasons(decided)["rate_limited"] >= 10
    assert _reasons(decided)["approved"] >= 2


def test_replays_are_dropped_recognised_or_ignored_as_late() -> None:
    m = "13800000041"
    trigger = _handled(0, m)
    busy = [_web(1 + i, m) for i in range(40)]  # pushes the trigger out of the recent ids
    after = [_web(700 + i, m) for i in range(40)]
    events = [trigger, trigger, *busy, trigger, *after, trigger, _web(2_000, m), trigger]
    decided = _agreed(events)
    outcomes = _of(decided, trigger)
    # Two rules fire: each nudge is held, then decided for good at 700 s, then recognised
    # as a duplicate when the trigger is replayed at 740 s; the other replays ask nothing.
    assert sum(outcomes.values()) == 6, outcomes
    assert outcomes[("suppressed", "duplicate")] == 2, outcomes
