"""Every kind of malformed event is really rejected by the schema."""

import random
from collections import Counter

import pytest

import schemas
from channelhub.simulator.ids import EventIds
from channelhub.simulator.malformed import FALLBACK_KEY, MALFORMED_KINDS, MalformedFactory
from channelhub.simulator.population import Population

T_MS = 1_717_000_000_000


@pytest.fixture(scope="module")
def factory() -> MalformedFactory:
    rng = random.Random(5)
    return MalformedFactory(Population(1_000, rng), rng, EventIds(rng))


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_every_malformed_event_of_each_kind_is_rejected(
    factory: MalformedFactory, kind: str
) -> None:
    reasons: Counter[str] = Counter()
    for _ in range(30 if kind == "huge_payload" else 400):
        bad = factory.make(T_MS, kind)
        assert bad.kind == kind
        assert b"\n" not in bad.payload  # one event per NDJSON line
        result = schemas.validate(bad.payload)
        assert isinstance(result, schemas.Rejection), bad.payload[:300]
        reasons[result.reason_code] += 1
    if kind == "huge_payload":
        assert set(reasons) == {"too_large"}
    if kind == "malformed_json":
        assert set(reasons) == {"not_json"}


def test_random_kinds_cover_them_all(factory: MalformedFactory) -> None:
    kinds = Counter(factory.make(T_MS).kind for _ in range(5_000))
    assert set(kinds) == set(MALFORMED_KINDS)
    assert kinds["huge_payload"] < kinds["wrong_type"]  # rarer: each weighs 64 KiB


def test_keys_are_the_msisdn_when_there_is_one(factory: MalformedFactory) -> None:
    made = [factory.make(T_MS) for _ in range(2_000)]
    assert {m.key for m in made if m.key != FALLBACK_KEY}
    for bad in made:
        if b'"msisdn":"' in bad.payload and bad.kind != "malformed_json":
            assert bad.key != FALLBACK_KEY
            assert bad.key.decode() in bad.payload.decode()


def test_sql_looking_strings_land_in_fields_that_refuse_them(factory: MalformedFactory) -> None:
    payloads = [factory.make(T_MS, "sql_injection").payload for _ in range(300)]
    assert any(b"DROP TABLE channelhub.events" in p for p in payloads)
