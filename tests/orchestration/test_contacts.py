"""Contacts counted from the stream (:mod:`orchestration.contacts`) against the definitions
the cross-channel queries used to compute over the stored events, recomputed here in bulk."""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.contacts import MAX_SESSIONS, SESSION_IDLE_MS, Session, step
from schemas.contacts import RECONTACT_WINDOW_MS
from schemas.envelope import CHANNELS, Channel

Event = tuple[str, Channel, int]  # session, channel, at_ms


def streamed(events: list[Event]) -> tuple[Counter[tuple[object, ...]], tuple[Session, ...]]:
    sessions: tuple[Session, ...] = ()
    counted: Counter[tuple[object, ...]] = Counter()
    for session, channel, at in events:
        sessions, new = step(sessions, session, channel, at)
        counted.update((c.kind, c.channel, c.first_ms, c.opens_session) for c in new)
    return counted, sessions


def in_bulk(events: list[Event]) -> Counter[tuple[object, ...]]:
    """Per (channel, session) its earliest event; per session its earliest event and channel;
    a session re-contacted when another begins in (first, first + 24 h]."""
    pairs: dict[tuple[str, str], int] = {}
    firsts: dict[str, tuple[int, str]] = {}
    for session, channel, at in events:
        pairs[channel, session] = min(pairs.get((channel, session), at), at)
        if session not in firsts or at < firsts[session][0]:
            firsts[session] = (at, channel)
    counted: Counter[tuple[object, ...]] = Counter()
    for (channel, session), at in pairs.items():
        counted["opened", channel, at, firsts[session] == (at, channel)] += 1
    for session, (at, channel) in firsts.items():
        if any(
            at < other <= at + RECONTACT_WINDOW_MS
            for s, (other, _) in firsts.items()
            if s != session
        ):
            counted["recontacted", channel, at, False] += 1
    return counted


HOUR = 3_600_000
T0 = 1_780_000_000_000


def test_a_contact_is_counted_once_when_it_begins() -> None:
    counted, _ = streamed([("call-1", "ivr", T0), ("call-1", "ivr", T0 + 5_000)])
    assert counted == Counter({("opened", "ivr", T0, True): 1})


def test_an_agent_in_the_call_is_a_contact_of_its_own_but_not_a_recontact() -> None:
    counted, _ = streamed([("call-1", "ivr", T0), ("call-1", "agent", T0 + 60_000)])
    assert counted == Counter(
        {("opened", "ivr", T0, True): 1, ("opened", "agent", T0 + 60_000, False): 1}
    )


def test_recontact_exactly_at_the_end_of_the_window_counts_and_a_millisecond_later_not() -> None:
    again, _ = streamed([("w-1", "web", T0), ("w-2", "wap", T0 + RECONTACT_WINDOW_MS)])
    assert again["recontacted", "web", T0, False] == 1
    late, _ = streamed([("w-1", "web", T0), ("w-2", "wap", T0 + RECONTACT_WINDOW_MS + 1)])
    assert late["recontacted", "web", T0, False] == 0


def test_a_session_that_arrives_after_a_later_one_is_still_followed() -> None:
    counted, _ = streamed([("sms-2", "sms", T0 + HOUR), ("ivr-1", "ivr", T0)])
    assert counted["recontacted", "ivr", T0, False] == 1
    assert counted["recontacted", "sms", T0 + HOUR, False] == 0


def test_each_session_is_marked_once_however_many_follow() -> None:
    counted, _ = streamed([(f"k-{i}", "kiosk", T0 + i * HOUR) for i in range(5)])
    assert sum(n for key, n in counted.items() if key[0] == "recontacted") == 4


def test_state_keeps_only_what_can_still_change_a_count() -> None:
    events = [(f"web-{i}", "web", T0 + i * 3 * HOUR) for i in range(40)]
    _, sessions = streamed(events)
    assert [s.key for s in sessions] == [streamed(events[-1:])[1][0].key]


@st.composite
def journeys(draw: st.DrawFn) -> list[Event]:
    """One subscriber's events in time order: sessions one after another, some overlapping
    the next, none silent for SESSION_IDLE_MS, at most MAX_SESSIONS at once."""
    events: list[Event] = []
    at = T0
    open_sessions: list[tuple[str, str]] = []
    last: dict[str, int] = {}
    for i in range(draw(st.integers(1, 12))):
        at += draw(st.sampled_from([0, 1, 60_000, HOUR, 23 * HOUR, RECONTACT_WINDOW_MS, 30 * HOUR]))
        channel = draw(st.sampled_from([c for c in CHANNELS if c != "agent"]))
        session = (f"s{i}", channel)
        if not draw(st.booleans()) or len(open_sessions) >= MAX_SESSIONS - 1:
            open_sessions = []
        open_sessions.append(session)
        for _ in range(draw(st.integers(1, 4))):
            at += draw(st.integers(0, SESSION_IDLE_MS // 4))
            # a second short of the idle limit: the state keeps a session's span in seconds
            live = [s for s in open_sessions if at - last.get(s[0], at) < SESSION_IDLE_MS - 1000]
            sid, ch = draw(st.sampled_from(live))
            last[sid] = at
            if ch == "ivr" and draw(st.booleans()):
                ch = "agent"
            events.append((sid, ch, at))
    return events


@settings(max_examples=300, deadline=None)
@given(journeys())
def test_streamed_counts_equal_the_counts_over_the_stored_events(events: list[Event]) -> None:
    assert streamed(events)[0] == in_bulk(events)
