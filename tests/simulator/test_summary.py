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
