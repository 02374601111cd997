"""The merged stream: valid, ordered, reproducible, and independent of the malformed share."""

import itertools
import re
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

import schemas
from channelhub.simulator.engine import Emitted, Engine, Scenario
from kernel.clock import to_ms
from tests.simulator.conftest import SAMPLE_START_MS

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def take(n: int, **scenario: Any) -> list[Emitted]:
    options = {"seed": 11, "start_ms": SAMPLE_START_MS, "subscribers": 5_000} | scenario
    return list(itertools.islice(Engine(Scenario(**options)), n))


def test_every_event_of_a_large_sample_passes_validation(emitted: list[Emitted]) -> None:
    rejected: Counter[str] = Counter()
    for item in emitted:
        result = schemas.validate(item.payload)
        if isinstance(result, schemas.Rejection):
            rejected[f"{item.label}: {result}"] += 1
        else:
            assert schemas.event_type_of(result) == item.label
    assert not rejected
    assert all(item.valid for item in emitted)


def test_the_sample_covers_every_event_type(emitted: list[Emitted]) -> None:
    # Every type a channel system sends; the wait predictor writes ivr.wait_predicted itself,
    # and a hall sends *.function_unavailable only once a function is retired (on today's
    # catalogue none is: tests/catalogue/test_simulator_halls_follow.py retires one).
    not_today = {"ivr.wait_predicted", "web.function_unavailable", "wap.function_unavailable"}
    assert {item.label for item in emitted} == set(schemas.EVENT_TYPES) - not_today


def test_events_come_in_time_order_with_matching_timestamps(
    emitted: list[Emitted], events: list[dict[str, Any]]
) -> None:
    times = [item.t_ms for item in emitted]
    assert times == sorted(times)
    for item, event in zip(emitted[:2000], events, strict=False):
        assert to_ms(datetime.fromisoformat(event["occurred_at"])) == item.t_ms


def test_keys_are_the_schema_routing_key(emitted: list[Emitted]) -> None:
    for item in emitted[:20_000]:
        event = schemas.validate(item.payload)
        assert not isinstance(event, schemas.Rejection)
        assert item.key == schemas.routing_key(event)


def test_event_ids_are_unique_uuid7_carrying_the_simulated_time(
    emitted: list[Emitted], events: list[dict[str, Any]]
) -> None:
    ids = [event["event_id"] for event in events]
    assert len(set(ids)) == len(ids)
    for item, event_id in zip(emitted[:5000], ids, strict=False):
        assert UUID7.match(event_id)
        assert int(event_id.replace("-", "")[:12], 16) == item.t_ms


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    first = take(20_000, bad_fraction=0.1)
    assert take(20_000, bad_fraction=0.1) == first
    assert [e.payload for e in take(100, seed=12)] != [e.payload for e in first[:100]]


def test_malformed_events_are_mixed_in_without_changing_the_valid_stream() -> None:
    clean = take(10_000)
    mixed = take(12_000, bad_fraction=0.2)
    assert [e for e in mixed if e.valid][: len(clean) // 2] == clean[: len(clean) // 2]
    share = sum(not e.valid for e in mixed) / len(mixed)
    assert share == pytest.approx(0.2, abs=0.02)
    assert all(
        not isinstance(schemas.validate(e.payload), schemas.Event) for e in mixed if not e.valid
    )


def test_odd_but_legal_sms_text_is_produced(events: list[dict[str, Any]]) -> None:
    texts = {e["attributes"]["text"] for e in events if e["event_type"] == "sms.message_received"}
    assert "'; DROP TABLE channelhub.events; --" in texts
    assert any(re.search(r"[\U0001F600-\U0001F64F]", text) for text in texts)  # emoji
    assert any(re.search(r"[\u4e00-\u9fff]", text) for text in texts)  # CJK
    assert any("\n" in text for text in texts)


def test_bad_fraction_must_be_a_share() -> None:
    with pytest.raises(ValueError, match="bad_fraction"):
        Engine(Scenario(seed=1, start_ms=0, bad_fraction=1.5))
