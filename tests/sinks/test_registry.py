"""The contract registry against the code and the real ClickHouse.

Every topic the platform creates has a contract, every table a contract names exists, the
migrations create every table's statements exactly once, and one record of every topic the
sink reads goes the whole way: encoded as its producer does, decoded by the sink, made a row,
inserted, and read back unchanged. A new topic needs a sample below; the test says so.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from channelhub.platform.broker import topic_names
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from orchestration.campaigns import events as campaign_events
from orchestration.campaigns import load_campaign_file
from schemas.alerts import AlertEvent, RuleChange
from schemas.dead_letter import dead_letter
from schemas.nudges import (
    Conversion,
    DecidedNudge,
    Decision,
    DeliveryReceipt,
    Dispatch,
    NudgeRequest,
    OptOutRecorded,
)
from schemas.registry import CONTRACTS
from schemas.validation import Rejection
from sinks import migrations
from sinks.client import connect
from sinks.routes import TABLES, VIEWS, decoders, fed, routes
from sinks.tables import Table, View
from streams.routing import RawMessage, route
from tests.factories import encode, make_event
from tests.fixtures.services import local_settings

AT = datetime(2026, 11, 27, 7, 0, 0, 123000, tzinfo=UTC)
MSISDN = "13912345678"
CAMPAIGN = Path(__file__).parents[2] / "orchestration/campaigns/examples/sms_hall_winback.toml"

_REQUEST = NudgeRequest(
    nudge_id="n1", rule_id="r1", campaign_id="c1", trigger_event_id="e1", msisdn=MSISDN,
    prefecture="changsha", brand="gotone", text="hi 13912345678", goal="self_service",
    requested_at=AT, send_at=AT + timedelta(minutes=5),
)  # fmt: skip


def _samples() -> dict[str, bytes]:
    """One record of every topic the sink reads, by settings field, as its producer writes it."""
    event = route(RawMessage(encode(make_event("web.login", msisdn=MSISDN)), None, "raw", 0, 0, 0))
    letter = dead_letter(
        b'{"msisdn": "13912345678"}', Rejection("not_json", "", "broken"),
        source_topic="channel.events.raw", source_partition=1, source_offset=2, received_at=AT,
    )  # fmt: skip
    decided = DecidedNudge(
        request=_REQUEST,
        decision=Decision(nudge_id="n1", outcome="held", reason="quiet_hours", decided_at=AT,
                          send_at=AT + timedelta(hours=8)),
    )  # fmt: skip
    records: dict[str, object] = {
        "topic_dlq": letter,
        "topic_nudges_requested": _REQUEST,
        "topic_nudges_decisions": decided,
        "topic_nudges_dispatches": Dispatch(
            nudge_id="n1", rule_id="r1", msisdn=MSISDN, text="hi", goal="g", status="sent",
            gateway="file", message_ids=("m1", "m2"), segments=2, approved_at=AT,
            dispatched_at=AT + timedelta(seconds=1),
        ),
        "topic_nudges_receipts": DeliveryReceipt(
            gateway="file", message_id="m1", nudge_id=None, status="failed", at=AT,
            error_code="E1",
        ),
        "topic_nudges_conversions": Conversion(
            nudge_id="n1", rule_id="r1", msisdn=MSISDN, group="sent", goal="survey",
            exposed_at=AT, converted_at=AT + timedelta(hours=1), event_id="e2", reply="5",
            score=5,
        ),
        "topic_nudges_optouts": OptOutRecorded(msisdn=MSISDN, scope="*", event_id="e3", at=AT),
        "topic_campaigns": campaign_events.created(
            load_campaign_file(CAMPAIGN), at=AT, by="marketing"
        ),
        "topic_alerts": AlertEvent(
            event_id="a1", event_type="alert.opened", alert_id="al1", rule_id="asa-slow",
            kind="asa", severity="warning", threshold=30.0, window_minutes=None, value=42.5,
            at=AT, message="slow",
        ),
        "topic_alert_rules": RuleChange(
            change_id="ch1", rule_id="asa-slow", at=AT, changed_by="ops", threshold=25.0,
        ),
    }  # fmt: skip
    return {"topic_events": event.value} | {
        name: msgspec.json.encode(r) for name, r in records.items()
    }


def test_every_topic_the_platform_creates_has_one_contract() -> None:
    settings = local_settings()
    topics = [c.topic(settings) for c in CONTRACTS]
    assert len(set(topics)) == len(topics)
    assert topic_names(settings) == topics
    assert {c.setting for c in CONTRACTS} == {
        name
        for name in Settings.model_fields
        if name.startswith("topic_") and name != "topic_partitions"
    }


def test_every_table_a_contract_names_exists_and_every_table_is_fed() -> None:
    named = [c.table for c in fed()]
    assert len(set(named)) == len(named)
    assert set(named) == set(TABLES)
    settings = local_settings()
    assert set(routes(settings)) == set(decoders(settings))


def _everything() -> list[Table[Any] | View]:
    """Every table and view the migrations create."""
    return [*TABLES.values(), *VIEWS.values()]


def test_the_migrations_create_every_statement_once() -> None:
    applied = [s for name in migrations.available() for s in migrations.operations(name)]
    registered = [s for thing in _everything() for s in thing.create_statements]
    assert len(set(applied)) == len(applied)
    missing = set(registered) - set(applied)
    assert not missing, (
        "a table's statements are in no migration: add sinks/migrations/NNNN_<what>.py with "
        f"OPERATIONS = creates('<table>'): {sorted(missing)}"
    )
    assert set(applied) == set(registered)


def test_every_table_read_has_a_sample() -> None:
    assert {c.setting for c in fed()} == set(_samples())


def _comparable(value: Any) -> Any:
    """What ClickHouse gives back for ``value``: whole seconds for a time, lists for arrays."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, tuple | list):
        return [_comparable(v) for v in value]
    return value


@pytest.mark.integration
def test_a_record_of_every_topic_round_trips_through_its_table(
    settings: Settings, clickhouse_db: str
) -> None:
    """Every CREATE renders on the real server, and each topic's record comes back as the row
    the sink made of it."""
    migrations.migrate(settings)
    client = connect(settings)
    pseudonymize = Pseudonymizer(b"k")
    samples, decode, tables = _samples(), decoders(settings), routes(settings)
    ingested = datetime.now(UTC).replace(microsecond=0)
    try:
        for thing in _everything():
            assert client.execute(f"EXISTS TABLE {clickhouse_db}.{thing.name}") == [(1,)]
        for contract in fed():
            topic = contract.topic(settings)
            table = tables[topic]
            record = decode[topic](samples[contract.setting])
            assert isinstance(record, contract.record), contract.setting
            key, row = table.row(
                record, partition=3, offset=2**40, ingested_at=ingested, pseudonymize=pseudonymize
            )
            client.execute(table.insert.format(db=clickhouse_db), [row])
            (back,) = client.execute(
                f"SELECT {', '.join(table.columns)} FROM {clickhouse_db}.{table.name} "
                f"WHERE {table.id_column} = %(key)s",
                {"key": key},
            )
            assert [_comparable(v) for v in back] == [_comparable(v) for v in row], table.name
            assert MSISDN not in repr(back), table.name
    finally:
        client.disconnect()
