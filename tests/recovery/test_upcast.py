"""Other schema versions: upgraded to the canonical event, or refused with a reason."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from schemas import EVENT_TYPES, Rejection, validate
from schemas.envelope import Attributes, Envelope
from schemas.export import export
from schemas.upcast import UPCASTERS, accepted_versions, canonical_envelope, register
from tests.factories import EVENT_TYPES as FACTORY_TYPES
from tests.factories import encode, make_event

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def _v2_of(v1: dict[str, Any]) -> dict[str, Any]:
    """The same ``ivr.queue_entered`` as the version-2 ACD sends it."""
    attributes = v1["attributes"]
    return {
        **v1,
        "schema_version": 2,
        "attributes": {
            "queue": {"name": attributes["queue"], "position": attributes["position"]},
            "busy_period": attributes["busy_period"],
        },
    }


def _rejected(raw: bytes) -> Rejection:
    result = validate(raw, received_at=NOW)
    assert isinstance(result, Rejection), f"{raw!r} was accepted"
    return result


def test_queue_entered_v2_becomes_the_same_event_as_v1() -> None:
    v1 = make_event("ivr.queue_entered", occurred_at="2026-11-27T15:00:00.250+08:00")
    canonical = validate(encode(v1), received_at=NOW)
    upgraded = validate(encode(_v2_of(v1)), received_at=NOW)
    assert not isinstance(canonical, Rejection), canonical
    assert not isinstance(upgraded, Rejection), upgraded
    assert upgraded == canonical
    assert upgraded.schema_version == 1
    assert msgspec.json.encode(upgraded) == msgspec.json.encode(canonical)


def test_v2_field_order_does_not_matter() -> None:
    """The version-1 decode may fail on ``attributes`` before it reads ``schema_version``."""
    v2 = _v2_of(make_event("ivr.queue_entered"))
    reordered = {
        "attributes": v2["attributes"],
        **{k: v for k, v in v2.items() if k != "attributes"},
    }
    assert not isinstance(validate(encode(reordered), received_at=NOW), Rejection)


def test_v2_is_checked_as_v2_then_as_v1() -> None:
    v2 = _v2_of(make_event("ivr.queue_entered"))
    v2["attributes"]["queue"]["position"] = -1
    bad = _rejected(encode(v2))
    assert (bad.reason_code, bad.field) == ("invalid_value", "$.attributes.queue.position")
    v2["attributes"]["queue"] = "general"  # the version-1 shape under version 2
    bad = _rejected(encode(v2))
    assert (bad.reason_code, bad.field) == ("wrong_type", "$.attributes.queue")
    late = _v2_of(make_event("ivr.queue_entered", occurred_at="2026-11-27T09:00:00Z"))
    assert _rejected(encode(late)).reason_code == "in_future"


@pytest.mark.parametrize("version", [0, 3, 99, -1, 2**40])
def test_unknown_versions_are_refused_saying_which_are_accepted(version: int) -> None:
    bad = _rejected(encode(make_event("ivr.queue_entered", schema_version=version)))
    assert (bad.reason_code, bad.field) == ("invalid_value", "$.schema_version")
    assert f"schema_version {version} is not accepted for ivr.queue_entered" in bad.message
    assert bad.message.endswith("accepted: 1, 2")
    other = _rejected(encode(make_event("ivr.abandoned", schema_version=2)))
    assert other.message.endswith("accepted: 1")


@pytest.mark.parametrize("version", [True, "2", None, 1.5])
def test_a_version_that_is_not_an_integer_is_the_wrong_type(version: object) -> None:
    bad = _rejected(encode(make_event("ivr.queue_entered", schema_version=version)))
    assert bad.field == "$.schema_version"
    assert bad.reason_code in {"wrong_type", "invalid_value"}


class _AbandonedV3(Attributes):
    wait_ms: int


class _IvrAbandonedV3(Envelope, tag="ivr.abandoned"):
    schema_version: Literal[3]  # type: ignore[assignment]
    attributes: _AbandonedV3


@pytest.fixture
def abandoned_v3() -> Iterator[None]:
    """``ivr.abandoned`` version 3 (wait in milliseconds), registered for one test."""

    @register(_IvrAbandonedV3, 3)
    def upcast(event: _IvrAbandonedV3) -> dict[str, Any]:
        if event.attributes.wait_ms < 0:
            raise ValueError("wait_ms is negative")
        return {
            **canonical_envelope(event),
            "attributes": {"wait_s": event.attributes.wait_ms / 1000},
        }

    yield
    del UPCASTERS[("ivr.abandoned", 3)]


def test_a_registered_upcaster_is_used_and_its_refusal_is_a_rejection(abandoned_v3: None) -> None:
    assert accepted_versions("ivr.abandoned") == [1, 3]
    v1 = make_event("ivr.abandoned", attributes={"wait_s": 61.5})
    v3 = {**v1, "schema_version": 3, "attributes": {"wait_ms": 61_500}}
    assert validate(encode(v3), received_at=NOW) == validate(encode(v1), received_at=NOW)
    bad = _rejected(encode({**v3, "attributes": {"wait_ms": -5}}))
    assert (bad.reason_code, bad.field) == ("invalid_value", "$")
    assert "wait_ms is negative" in bad.message
    too_long = _rejected(encode({**v3, "attributes": {"wait_ms": 10**12}}))
    assert too_long.field == "$.attributes.wait_s"
    assert "after upgrading ivr.abandoned version 3 to version 1" in too_long.message
    with pytest.raises(ValueError, match="already has an upcaster"):
        register(_IvrAbandonedV3, 3)


def test_version_one_and_unknown_types_cannot_be_registered() -> None:
    with pytest.raises(ValueError, match="cannot register"):
        register(_IvrAbandonedV3, 1)

    class Unknown(Envelope, tag="ivr.not_a_type"):
        attributes: _AbandonedV3

    with pytest.raises(ValueError, match="cannot register"):
        register(Unknown, 2)


def test_export_describes_every_accepted_version(tmp_path: Path) -> None:
    export(tmp_path)
    one = json.loads((tmp_path / "ivr.queue_entered.schema.json").read_text())
    titles = {d.get("title") for d in one["$defs"].values()}
    assert {"IvrQueueEntered", "IvrQueueEnteredV2"} <= titles
    assert [s["$ref"] for s in one["anyOf"]] == [
        "#/$defs/IvrQueueEntered", "#/$defs/IvrQueueEnteredV2",
    ]  # fmt: skip
    union = json.loads((tmp_path / "channelhub-event.schema.json").read_text())
    assert "IvrQueueEnteredV2" in union["$defs"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_version = st.integers(min_value=-3, max_value=5) | st.integers() | _json


@hypothesis_settings(max_examples=400, deadline=None)
@given(
    base=st.sampled_from(FACTORY_TYPES).map(make_event) | st.builds(dict),
    event_type=st.sampled_from(sorted(EVENT_TYPES)) | st.text(max_size=20) | _json,
    version=_version,
    attributes=_json | st.just({"queue": {"name": "general", "position": 1}, "busy_period": True}),
    extra=st.dictionaries(st.text(max_size=8), _json, max_size=3),
)
def test_validate_never_raises_for_an_object_with_a_schema_version(
    base: dict[str, Any], event_type: Any, version: Any, attributes: Any, extra: dict[str, Any]
) -> None:
    obj = {**base, **extra, "event_type": event_type, "schema_version": version}
    if base:
        obj["attributes"] = attributes
    result = validate(json.dumps(obj).encode(), received_at=NOW)
    assert isinstance(result, Rejection) or result.schema_version == 1
