"""``simulate --output kafka`` against a real broker: the summary is what the topic holds."""

import io
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

import schemas
from channelhub.simulator.run import RunOptions, run
from tests.fixtures.services import Broker, local_settings
from tests.ingest.test_producer import consume_all

pytestmark = pytest.mark.integration


def test_the_summary_counts_exactly_what_the_topic_holds(broker: Broker) -> None:
    settings = local_settings(
        kafka_bootstrap=broker.bootstrap, topic_raw=f"t_{uuid.uuid4().hex[:12]}.raw"
    )
    options = RunOptions(
        seed=21, events=30_000, bad_fraction=0.02, subscribers=20_000,
        start=datetime(2024, 5, 31, 8, tzinfo=UTC),
    )  # fmt: skip
    summary = run(settings, options, stdout=io.StringIO(), stderr=io.StringIO())

    records = consume_all(broker.bootstrap, settings.topic_raw, 30_000)
    assert len(records) == summary["events"] == 30_000
    by_type: Counter[str] = Counter()
    invalid = 0
    for record in records:
        event = schemas.validate(record.value)
        if isinstance(event, schemas.Rejection):
            invalid += 1
            assert record.key
        else:
            by_type[schemas.event_type_of(event)] += 1
            assert record.key == schemas.routing_key(event)
    assert invalid == summary["invalid"]
    assert {t: by_type[t] for t in sorted(schemas.EVENT_TYPES)} == summary["valid_by_event_type"]
