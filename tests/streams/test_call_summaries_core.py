"""The nudge core summarises IVR calls as they end, once per call however often its events
come, and its sweep closes a call that went silent without the subscriber's next event."""

from streams.nudge_core import PartitionNudges
from streams.state_store import changelog
from tests.orchestration.events import make
from tests.streams.nudge_fold import core

START = {"lead_in_variant": "changsha.mzone.idle", "busy_period": False}
END = {"duration_s": 30.0, "outcome": "self_service"}
LOGIN = {"method": "password", "success": True}


def test_a_call_is_summarised_at_its_end_and_duplicates_change_nothing() -> None:
    call = [
        make("ivr.call_started", START),
        make("ivr.menu_selected", {"key_path": "1", "item": "query"}, at_s=10),
        make("ivr.call_ended", END, at_s=30),
    ]
    part = PartitionNudges()
    out = core().process(part, enumerate([*call, *call]))
    [summary] = out.calls
    assert (summary.kind, summary.steps, summary.outcome) == ("call", ("1 query",), "self_service")
    again = make("web.login", LOGIN, at_s=60, session_id="web-1")
    [recontacted] = core().process(part, [(6, again)]).calls
    assert (recontacted.kind, recontacted.started_at) == ("recontacted", summary.started_at)
    assert part.subscribers["13800000001"].calls is None


def test_the_sweep_closes_a_call_silent_for_the_timeout() -> None:
    part = PartitionNudges()
    nudge_core = core()
    assert not nudge_core.process(part, [(0, make("ivr.call_started", START))]).calls
    changelog(part)  # the batch's changelog, as the stage writes it: the state is stored
    later = make("web.login", LOGIN, at_s=3 * 3600, msisdn="13800000002", session_id="web-1")
    [over] = nudge_core.process(part, [(1, later)]).calls
    assert (over.msisdn, over.kind, over.outcome) == ("13800000001", "call", None)
    assert over.ended_at is None
    assert part.subscribers["13800000001"].calls is None
