"""The summary's shape: every channel, event type and malformed kind, zeros included."""

import schemas
from channelhub.simulator.malformed import MALFORMED_KINDS
from channelhub.simulator.summary import Tally


def test_summary_shape_and_counts() -> None:
    tally = Tally(seed=9)
    tally.count("ivr.call_started", True, 1_717_000_000_000)
    tally.count("agent.request_handled", True, 1_717_000_000_500)
    tally.count("bad_msisdn", False, 1_717_000_000_600)
    tally.count("sms.reply_sent", True, 1_717_000_001_000)
    tally.retract("sms.reply_sent")
    summary = tally.summary()
    assert list(summary) == [
        "events", "valid", "valid_by_event_type", "invalid", "invalid_by_kind", "seed",
        "first_occurred_at", "last_occurred_at",
    ]  # fmt: skip
    assert summary["events"] == 3
    assert summary["valid"] == {"ivr": 1, "sms": 0, "web": 0, "wap": 0, "kiosk": 0, "agent": 1}
    assert set(summary["valid_by_event_type"]) == set(schemas.EVENT_TYPES)
    assert summary["invalid"] == 1
    assert list(summary["invalid_by_kind"]) == list(MALFORMED_KINDS)
    assert summary["first_occurred_at"] == "2024-05-29T16:26:40.000Z"


def test_an_empty_run_has_no_time_span() -> None:
    summary = Tally(seed=0).summary()
    assert summary["events"] == 0
    assert summary["first_occurred_at"] is None
    assert summary["last_occurred_at"] is None


def test_events_alone_end_before_now_at_any_hour() -> None:
    """The load model's estimate of how far back to start is an average; at some hours it
    carried the last events past the clock. Whatever the hour, they now end before it."""
    from channelhub.simulator.engine import Engine, Scenario
    from channelhub.simulator.run import RunOptions, plan

    for hour in range(0, 24, 3):
        now_ms = 1_796_169_600_000 + hour * 3_600_000  # 2026-12-02 00:00 UTC + hour
        options = RunOptions(events=3000, seed=3)
        start = plan(options, now_ms).start_ms
        engine = Engine(Scenario(seed=3, start_ms=start, subscribers=options.subscribers))
        last = [e.t_ms for _, e in zip(range(3000), engine, strict=False)][-1]
        assert last < now_ms, hour
