"""SMS confirmation dialogues summarised from the stream (:mod:`orchestration.sms_dialogues`)
against the definitions the SMS hall's confirmation panel used to apply to the stored events,
recomputed here in bulk."""

from collections import Counter
from datetime import timedelta
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.clock import to_ms
from orchestration.sms_dialogues import MAX_LIVE, Dialogue, Dialogues, close, step
from schemas import Event
from schemas.dialogues import DIALOGUE_FOLLOW_MS, DialogueSummarised
from tests.orchestration.events import T0, make

MSISDN = "13800000001"
CODES = ("0204", "0311", "0102")
REPLIES = ("yes", "no", "timeout")
CONFIRM_TIMEOUT_MS = 600_000


def at(ms: int, event_type: str, session: str, **attributes: Any) -> Event:
    """An event of the subscriber ``ms`` milliseconds after T0."""
    moment = (T0 + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
    return make(event_type, attributes, occurred_at=moment, session_id=session, msisdn=MSISDN)


def prompted(ms: int, session: str, code: str = "0204") -> Event:
    return at(ms, "sms.confirmation_requested", session, code=code,
              service="handling.ringback_tone", charge_fen=500)  # fmt: skip


def replied(ms: int, session: str, reply: str, code: str = "0204") -> Event:
    return at(ms, "sms.confirmation_replied", session, code=code, reply=reply)


def completed(ms: int, session: str, success: bool = True, code: str = "0204") -> Event:
    return at(ms, "sms.service_completed", session, code=code,
              service="handling.ringback_tone", success=success)  # fmt: skip


def text(ms: int, session: str) -> Event:
    return at(ms, "sms.message_received", session, text="CXHF", matched_code="0101",
              match_kind="exact")  # fmt: skip


def web(ms: int, session: str) -> Event:
    return at(ms, "web.function_used", session, function="bill.realtime")


def ms_of(event: Event) -> int:
    return to_ms(event.occurred_at)


def streamed(events: list[Event]) -> tuple[list[DialogueSummarised], Dialogues]:
    """Every summary of ``events`` in order, then every dialogue closed long after the last."""
    dialogues: Dialogues = ()
    records: list[DialogueSummarised] = []
    for event in events:
        dialogues, done = step(dialogues, MSISDN, event, ms_of(event), late=False)
        records += done
    if events:
        dialogues, done = close(dialogues, MSISDN, ms_of(events[-1]) + DIALOGUE_FOLLOW_MS + 1)
        records += done
    return records, dialogues


def summarised(records: list[DialogueSummarised]) -> Counter[tuple[object, ...]]:
    return Counter((to_ms(r.prompted_at), r.code, r.reply, r.ran, r.worked) for r in records)


def in_bulk(events: list[Event]) -> Counter[tuple[object, ...]]:
    """Per SMS session with a prompt, its events grouped as the panel grouped them."""
    sessions: dict[str, list[Event]] = {}
    for e in events:
        if e.channel == "sms":
            sessions.setdefault(e.session_id, []).append(e)
    found: Counter[tuple[object, ...]] = Counter()
    for own in sessions.values():
        asked = [e for e in own if e.event_type == "sms.confirmation_requested"]
        if not asked:
            continue
        first = min(asked, key=ms_of)
        replies = [e.attributes.reply for e in own if e.event_type == "sms.confirmation_replied"]
        services = [e for e in own if e.event_type == "sms.service_completed"]
        found[ms_of(first), first.attributes.code, replies[0] if replies else None,
              bool(services), any(e.attributes.success for e in services)] += 1  # fmt: skip
    return found


def test_a_dialogue_is_summarised_once_when_its_service_completes() -> None:
    dialogue = [
        text(0, "sms-1"),
        prompted(2_000, "sms-1"),
        replied(30_000, "sms-1", "yes"),
        completed(32_000, "sms-1", success=False),
    ]
    records, dialogues = streamed(dialogue)
    [record] = records
    assert (record.code, record.reply, record.ran, record.worked) == ("0204", "yes", True, False)
    assert record.prompted_at == T0 + timedelta(seconds=2)
    assert dialogues == (), "nothing is kept of a dialogue that is over"
    assert streamed(dialogue)[0][0].dialogue_id == record.dialogue_id, "a replay: the same row"
    # Over at the service: an event after it is not the dialogue's.
    again, _ = streamed([*dialogue, replied(40_000, "sms-1", "no")])
    assert summarised(again) == summarised(records)


def test_a_no_or_a_timeout_ends_the_dialogue_and_a_yes_waits_for_the_service() -> None:
    for reply in ("no", "timeout"):
        dialogues: Dialogues = ()
        for e in (prompted(0, "sms-1"), replied(CONFIRM_TIMEOUT_MS, "sms-1", reply)):
            dialogues, done = step(dialogues, MSISDN, e, ms_of(e), late=False)
        assert (dialogues, [d.reply for d in done]) == ((), [reply])
    dialogues = ()
    for e in (prompted(0, "sms-1"), replied(30_000, "sms-1", "yes")):
        dialogues, done = step(dialogues, MSISDN, e, ms_of(e), late=False)
    assert (len(dialogues), done) == (1, [])


def test_a_silent_dialogue_is_over_after_the_follow_window_at_the_next_event_or_close() -> None:
    first = prompted(0, "sms-1", "0311")
    dialogues, _ = step((), MSISDN, first, 0, late=False)
    assert close(dialogues, MSISDN, DIALOGUE_FOLLOW_MS) == (dialogues, [])
    still, [over] = close(dialogues, MSISDN, DIALOGUE_FOLLOW_MS + 1)
    assert (still, over.code, over.reply, over.ran) == ((), "0311", None, False)
    later = web(DIALOGUE_FOLLOW_MS + 1, "web-1")
    assert step(dialogues, MSISDN, later, ms_of(later), late=False)[1] == [over]


def test_the_state_is_one_byte_without_a_dialogue_and_small_with_one() -> None:
    encode = msgspec.msgpack.encode
    assert len(encode(())) == 1
    dialogue = Dialogue(2**32 - 1, ms_of(prompted(0, "s")) + 10**9, 3_600_000, "0204", 1)
    assert len(encode((dialogue,))) <= 32


def test_a_late_event_or_one_of_no_open_dialogue_changes_nothing() -> None:
    e = prompted(0, "sms-1")
    assert step((), MSISDN, e, 0, late=True) == ((), [])
    for other in (web(1, "web-1"), replied(1, "sms-1", "yes"), completed(1, "sms-1")):
        assert step((), MSISDN, other, 1, late=False) == ((), [])
    dialogues, _ = step((), MSISDN, e, 0, late=False)
    same, done = step(dialogues, MSISDN, web(1, "web-1"), 1, late=False)
    assert (same is dialogues, done) == (True, [])


def test_more_than_max_live_open_dialogues_summarise_the_oldest() -> None:
    events = [prompted(i * 1000, f"sms-{i}", CODES[i % 3]) for i in range(MAX_LIVE + 1)]
    dialogues: Dialogues = ()
    records: list[DialogueSummarised] = []
    for e in events:
        dialogues, done = step(dialogues, MSISDN, e, ms_of(e), late=False)
        records += done
    assert [r.prompted_at for r in records] == [T0]
    assert len(dialogues) == MAX_LIVE


@st.composite
def dialogues(draw: st.DrawFn) -> list[Event]:
    """One subscriber's events in time order: dialogues prompted once, answered (or not) and
    served (after a yes, or not), at most MAX_LIVE open at once, each over within the follow
    window, with texts and other channels' sessions between and across them."""
    events: list[Event] = []
    t = 0
    open_until: list[int] = []
    for i in range(draw(st.integers(1, 8))):
        t += draw(st.sampled_from([1, 60_000, CONFIRM_TIMEOUT_MS, DIALOGUE_FOLLOW_MS + 1]))
        if draw(st.booleans()):
            events.append(web(t, f"web-{i}") if draw(st.booleans()) else text(t, f"sms-t{i}"))
            continue
        live = [u for u in open_until if u >= t]
        if len(live) >= MAX_LIVE:
            t = max(live) + DIALOGUE_FOLLOW_MS + 1
        session, code, at_ = f"sms-{i}", draw(st.sampled_from(CODES)), t
        events.append(prompted(at_, session, code))
        if draw(st.booleans()):
            events.append(text(at_ + 500, session))
        reply = draw(st.sampled_from([*REPLIES, None]))
        if reply is not None:
            at_ += CONFIRM_TIMEOUT_MS if reply == "timeout" else draw(st.integers(0, 90_000))
            events.append(replied(at_, session, reply, code))
        if reply in ("yes", None) and draw(st.booleans()):
            at_ += draw(st.integers(0, 4_000))
            events.append(completed(at_, session, draw(st.booleans()), code))
        open_until.append(at_ + (0 if reply in ("no", "timeout") else DIALOGUE_FOLLOW_MS + 1))
        if draw(st.booleans()):
            t = at_
    return sorted(events, key=ms_of)


@settings(max_examples=200, deadline=None)
@given(dialogues())
def test_streamed_summaries_equal_the_dialogues_grouped_from_the_stored_events(
    events: list[Event],
) -> None:
    records, left = streamed(events)
    assert summarised(records) == in_bulk(events)
    assert len({r.dialogue_id for r in records}) == len(records)
    assert left == ()


@st.composite
def anything(draw: st.DrawFn) -> list[tuple[Event, bool]]:
    """Any of the subscriber's dialogue events, in any order, some late, in few sessions."""
    made = []
    for _ in range(draw(st.integers(0, 30))):
        ms = draw(st.integers(0, 3 * DIALOGUE_FOLLOW_MS))
        session = draw(st.sampled_from(["sms-1", "sms-2", "sms-3", "sms-4", "sms-5"]))
        kind = draw(st.sampled_from(["prompt", "reply", "service", "text", "web"]))
        if kind == "prompt":
            event = prompted(ms, session, draw(st.sampled_from(CODES)))
        elif kind == "reply":
            event = replied(ms, session, draw(st.sampled_from(REPLIES)))
        elif kind == "service":
            event = completed(ms, session, draw(st.booleans()))
        else:
            event = text(ms, session) if kind == "text" else web(ms, session)
        made.append((event, draw(st.booleans())))
    return made


@settings(max_examples=200, deadline=None)
@given(anything())
def test_every_input_becomes_a_summary_or_nothing_and_never_raises(
    events: list[tuple[Event, bool]],
) -> None:
    state: Dialogues = ()
    records: list[DialogueSummarised] = []
    for event, late in events:
        state, done = step(state, MSISDN, event, ms_of(event), late=late)
        records += done
        assert len(state) <= MAX_LIVE
    state, done = close(state, MSISDN, to_ms(T0) + 4 * DIALOGUE_FOLLOW_MS + 1)
    records += done
    assert state == ()
    prompts = [e for e, late in events if e.event_type == "sms.confirmation_requested"]
    assert len(records) <= sum(1 for e, late in events if not late and e in prompts)
    asked = {(e.attributes.code, ms_of(e)) for e in prompts}
    assert all((r.code, to_ms(r.prompted_at)) in asked for r in records)
    assert all(r.worked <= r.ran for r in records)
