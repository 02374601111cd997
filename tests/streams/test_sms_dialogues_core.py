"""The nudge core summarises SMS confirmation dialogues as they end, once per dialogue however
often its events come, and its sweep closes a dialogue that went silent without the
subscriber's next event."""

from schemas.dialogues import DIALOGUE_FOLLOW_MS
from streams.nudge_core import PartitionNudges
from streams.nudge_state import encode_state
from streams.state_store import changelog
from tests.orchestration.events import make
from tests.streams.nudge_fold import core

ASKED = {"code": "0204", "service": "handling.ringback_tone", "charge_fen": 500}
DONE = {"code": "0204", "service": "handling.ringback_tone", "success": True}
LOGIN = {"method": "password", "success": True}


def test_a_dialogue_is_summarised_at_its_service_and_duplicates_change_nothing() -> None:
    dialogue = [
        make("sms.confirmation_requested", ASKED, session_id="sms-1"),
        make("sms.confirmation_replied", {"code": "0204", "reply": "yes"}, at_s=20,
             session_id="sms-1"),
        make("sms.service_completed", DONE, at_s=22, session_id="sms-1"),
    ]  # fmt: skip
    part = PartitionNudges()
    out = core().process(part, enumerate([*dialogue, *dialogue]))
    [summary] = out.dialogues
    assert (summary.code, summary.reply, summary.ran, summary.worked) == ("0204", "yes", True, True)
    sub = part.subscribers["13800000001"]
    assert sub.dialogues == ()
    assert encode_state(sub)[-1:] == b"\x90", "no open dialogue: one byte, the empty array"


def test_the_sweep_closes_a_dialogue_silent_for_the_follow_window() -> None:
    part = PartitionNudges()
    nudge_core = core()
    asked = make("sms.confirmation_requested", ASKED, session_id="sms-1")
    assert not nudge_core.process(part, [(0, asked)]).dialogues
    changelog(part)  # the batch's changelog, as the stage writes it: the state is stored
    later = make("web.login", LOGIN, at_s=DIALOGUE_FOLLOW_MS // 1000 + 3600,
                 msisdn="13800000002", session_id="web-1")  # fmt: skip
    [over] = nudge_core.process(part, [(1, later)]).dialogues
    assert (over.msisdn, over.code, over.reply, over.ran) == ("13800000001", "0204", None, False)
    assert part.subscribers["13800000001"].dialogues == ()
