"""Attribution in the nudge core: sent and held-out subscribers reaching their goals.

A seeded simulated morning is folded as the worker folds it; then the test plays customers:
self-service uses, survey replies and agent calls after chosen exposures, and checks which
nudges convert, when, and that a replay converts nothing twice.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestration.rules.guidance import way_for
from schemas import Event
from schemas.nudges import Conversion, DecidedNudge
from streams.nudge_core import NudgeCore, Outputs, PartitionNudges
from tests.orchestration.events import make
from tests.streams.nudge_fold import batches, by_partition, core, partition_of, simulated

START_MS = int(datetime(2026, 2, 28, 16, 0, tzinfo=UTC).timestamp() * 1000)
PARTITIONS = 4


class Folded:
    """Four partitions folded through one core, with every output kept."""

    def __init__(self, events: list[Event]) -> None:
        self.core: NudgeCore = core(PARTITIONS)
        self.states = {p: PartitionNudges() for p in range(PARTITIONS)}
        self.decided: list[DecidedNudge] = []
        self.conversions: list[Conversion] = []
        for p, part_events in by_partition(events, PARTITIONS).items():
            for chunk in batches(part_events, 500):
                self._keep(self.core.process(self.states[p], chunk))

    def _keep(self, out: Outputs) -> Outputs:
        self.decided += out.decided
        self.conversions += out.conversions
        return out

    def feed(self, events: list[Event]) -> list[Conversion]:
        """Append ``events`` to their partitions (as new offsets); the conversions they make."""
        found: list[Conversion] = []
        for p, part_events in by_partition(events, PARTITIONS).items():
            state = self.states[p]
            numbered = list(enumerate(part_events, state.next_offset))
            found += self._keep(self.core.process(state, numbered)).conversions
        return found

    def exposures(self, goal_prefix: str) -> Iterator[DecidedNudge]:
        for d in self.decided:
            if d.decision.outcome in ("approved", "holdout") and d.request.goal.startswith(
                goal_prefix
            ):
                yield d


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return simulated(20_000, seed=11, start_ms=START_MS)


@pytest.fixture
def folded(events: list[Event]) -> Folded:
    return Folded(events)


def _at(d: DecidedNudge, later: timedelta) -> str:
    return (d.decision.decided_at + later).isoformat(timespec="milliseconds")


def _like(d: DecidedNudge, event_type: str, attributes: dict[str, Any], later: timedelta,
          **envelope: Any) -> Event:  # fmt: skip
    return make(
        event_type, attributes, msisdn=d.request.msisdn, prefecture=d.request.prefecture,
        brand=d.request.brand, occurred_at=_at(d, later), **envelope,
    )  # fmt: skip


def _web_use(d: DecidedNudge, later: timedelta) -> Event | None:
    item = d.request.goal.split(":")[1]
    function = way_for(item).web_function
    if function is None:
        return None
    return _like(d, "web.function_used", {"function": function}, later, session_id="web-1")


def test_conversions_in_the_fold_belong_to_exposures_and_happen_in_their_window(
    folded: Folded,
) -> None:
    exposed = {d.request.nudge_id: d for d in folded.exposures("")}
    assert len({c.nudge_id for c in folded.conversions}) == len(folded.conversions)
    for c in folded.conversions:
        d = exposed[c.nudge_id]
        assert c.group == ("sent" if d.decision.outcome == "approved" else "holdout")
        assert c.exposed_at == d.decision.decided_at <= c.converted_at


def test_using_the_suggested_function_in_time_converts_once_and_late_use_does_not(
    folded: Folded,
) -> None:
    already = {c.nudge_id for c in folded.conversions}
    candidates = [
        d for d in folded.exposures("uses_self_service:")
        if d.request.nudge_id not in already and _web_use(d, timedelta(0)) is not None
        and d.request.goal.endswith(":72h")
    ]  # fmt: skip
    assert len(candidates) > 20
    on_time, too_late = candidates[::2], candidates[1::2]
    uses = [_web_use(d, timedelta(hours=5)) for d in on_time]
    late = [_web_use(d, timedelta(hours=73)) for d in too_late]
    # Each subscriber's later events come after all of this morning, in time order.
    converted = folded.feed([e for e in uses + late if e is not None])
    got = {c.nudge_id for c in converted}
    assert {d.request.nudge_id for d in on_time} <= got
    assert not got & {d.request.nudge_id for d in too_late}
    groups = {c.group for c in converted}
    assert groups == {"sent", "holdout"}
    # The same events again (an at-least-once redelivery with the same ids): nothing new.
    assert folded.feed([e for e in uses if e is not None]) == []


def test_a_survey_answer_converts_with_its_score_and_an_opt_out_does_not(
    folded: Folded,
) -> None:
    surveys = [d for d in folded.exposures("survey_reply:")]
    assert len(surveys) >= 2
    answer, opt_out = surveys[0], surveys[1]

    def sms(d: DecidedNudge, text: str) -> Event:
        attributes = {"text": text, "matched_code": None, "match_kind": "unknown"}
        return _like(d, "sms.message_received", attributes, timedelta(minutes=10),
                     session_id="sms-9")  # fmt: skip

    converted = folded.feed([sms(answer, " 4 "), sms(opt_out, "TD")])
    by_id = {c.nudge_id: c for c in converted}
    assert by_id[answer.request.nudge_id].score == 4
    assert by_id[answer.request.nudge_id].reply == " 4 "
    assert opt_out.request.nudge_id not in by_id


def test_no_agent_call_converts_when_the_window_closes_unless_the_subscriber_calls(
    folded: Folded, events: list[Event]
) -> None:
    asked_agent = [
        (e.msisdn, e.occurred_at) for e in events if e.event_type == "ivr.agent_requested"
    ]

    def called(d: DecidedNudge) -> bool:
        start, end = d.decision.decided_at, d.decision.decided_at + timedelta(days=7)
        return any(m == d.request.msisdn and start <= at <= end for m, at in asked_agent)

    exposed = list(folded.exposures("no_agent_call:"))
    charges = [d for d in exposed if not called(d)]
    assert len(charges) >= 2
    assert len(charges) < len(exposed)  # some callers asked for an agent in the same call
    caller = charges[0]
    asks = {"key_path": "0", "topic": "unknown"}
    call = _like(caller, "ivr.agent_requested", asks, timedelta(days=1), session_id="call-99")
    assert folded.feed([call]) == []
    # Advance every partition's watermark past the seven-day windows.
    latest = max(d.decision.decided_at for d in charges)
    ticks = [
        make("web.login", {"method": "password", "success": True}, msisdn=f"1390000{p:04d}",
             session_id="tick",
             occurred_at=(latest + timedelta(days=8)).isoformat(timespec="milliseconds"))
        for p in range(200)
    ]  # fmt: skip
    assert {partition_of(t, PARTITIONS) for t in ticks} == set(range(PARTITIONS))
    converted = {c.nudge_id: c for c in folded.feed(ticks)}
    for d in charges[1:]:
        c = converted[d.request.nudge_id]
        assert c.event_id == ""
        assert c.converted_at == d.decision.decided_at + timedelta(days=7)
    assert caller.request.nudge_id not in converted
    assert not {d.request.nudge_id for d in exposed if called(d)} & set(converted)
