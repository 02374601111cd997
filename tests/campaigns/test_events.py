"""Lifecycle events: what the CLI produces is what the fan-out and the sink read back."""

from datetime import UTC, datetime
from pathlib import Path

import msgspec

from kernel.pseudonym import Pseudonymizer
from orchestration.campaigns import Schedule, load_campaign_file
from schemas import campaigns as events
from schemas.campaigns import CampaignCreated, CampaignTriggered
from sinks.tables import campaign_events

EXAMPLE = Path(__file__).parents[2] / "orchestration/campaigns/examples/sms_hall_winback.toml"
NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def _row(value: bytes) -> dict[str, object]:
    key, row = campaign_events.TABLE.row(
        events.decode(value),
        partition=2,
        offset=7,
        ingested_at=NOW,
        pseudonymize=Pseudonymizer(b"k"),
    )
    record = dict(zip(campaign_events.COLUMNS, row, strict=True))
    assert key == record["event_id"]
    return record


def test_created_keeps_the_whole_spec() -> None:
    spec = load_campaign_file(EXAMPLE)
    event = events.created(spec, at=NOW, by="marketing")
    decoded = events.decode(events.encode(event))
    assert isinstance(decoded, CampaignCreated)
    assert decoded == event
    record = _row(events.encode(event))
    assert record["event_type"] == "campaign.created"
    assert record["campaign_id"] == "sms-hall-winback"
    assert record["scheduled_at"] == spec.schedule.at
    assert msgspec.json.decode(str(record["spec"]))["id"] == "sms-hall-winback"
    assert (record["at"], record["actor"]) == (NOW, "marketing")


def test_triggered_is_its_own_id() -> None:
    at = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    event = events.triggered("sms-hall-winback", scheduled_at=at, at=NOW, by="ops")
    decoded = events.decode(events.encode(event))
    assert isinstance(decoded, CampaignTriggered)
    assert decoded.trigger_id == event.event_id
    record = _row(events.encode(event))
    assert (record["event_type"], record["scheduled_at"], record["spec"]) == (
        "campaign.triggered", at, "",
    )  # fmt: skip
    assert (record["kafka_partition"], record["kafka_offset"]) == (2, 7)


def test_a_campaign_without_schedule_is_stored_as_unscheduled() -> None:
    spec = msgspec.structs.replace(load_campaign_file(EXAMPLE), schedule=Schedule())
    event = events.created(spec, at=NOW, by="marketing")
    assert _row(events.encode(event))["scheduled_at"] == campaign_events.UNSCHEDULED
