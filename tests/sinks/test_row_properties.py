"""The sink's row building is total: any bytes on any routed topic give a row or a dead letter.

For every table of :func:`sinks.routes.routes`: arbitrary bytes, and records shaped like the
real ones with any field replaced by any JSON value (huge and negative numbers, NaN and
Infinity tokens, long strings, lone surrogates, deep nesting, wrong types) or removed. The
sink's ``add`` must never raise, and must buffer exactly one row for the record: its table's
row, or a ``dead_letters`` row. Whichever it is, clickhouse-driver's own column writers must
accept it for the table's column types, so ClickHouse's client never refuses a row the
builders let through.
"""

import json
import re
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiokafka import TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sinks.routes import fed, routes
from sinks.tables import dead_letters
from sinks.writer import Sink
from tests.factories import encode, make_event
from tests.records import records
from tests.sinks.fakes import FakeClickHouse, Record, column_types, serialize, unit_settings

SETTINGS = unit_settings()
ROUTES = routes(SETTINGS)
MSISDN = "13912345678"


#: Well-formed records of each routed topic, drawn from its contract's type.
TEMPLATES: dict[str, st.SearchStrategy[Any]] = {
    contract.topic(SETTINGS): records(contract.record).map(msgspec.to_builtins)
    for contract in fed()
}

TYPES = {topic: column_types(table) for topic, table in ROUTES.items()}
DLQ_TYPES = column_types(dead_letters.TABLE)

#: Values at and past every limit a column has.
EDGE_NUMBERS = [
    -(2**63) - 1, -(2**63), -1, 0, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63,
    2**64 - 1, 2**64, 10**30, 1e308, -1e308, 5e-324, 0.5, -0.0,
]  # fmt: skip
EDGE_TIMES = [
    "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2106-02-07T06:28:15Z",
    "2106-02-07T06:28:16Z", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00",
    "2026-11-27T07:00:00", "2026-11-27T07:00:00+14:00", "2026-11-27", "20261127T070000Z",
    "2026-13-01T00:00:00Z", "",
]  # fmt: skip

#: Stands for a value spliced into the JSON text as it is (deep nesting, NaN, Infinity).
RAW_MARK = "\x00raw\x00"

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(EDGE_NUMBERS)
    | st.floats()
    | st.text(max_size=20)
    | st.text(min_size=70_000, max_size=70_001, alphabet="9")
    | st.sampled_from(EDGE_TIMES)
    | st.sampled_from(["\ud800", MSISDN, "msisdn", "0" * 200])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
raw_values = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e999", "-0", "1.0e-400"]
) | st.integers(500, 3000).map(lambda depth: "[" * depth + "]" * depth)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    return found


def _set(record: Any, path: tuple[Any, ...], value: Any, delete: bool) -> None:
    for key in path[:-1]:
        record = record[key]
    if delete:
        del record[path[-1]]
    else:
        record[path[-1]] = value


@st.composite
def broken_records(draw: st.DrawFn, topic: str) -> bytes:
    """A record of ``topic`` with some fields (nested ones too) replaced, or removed."""
    record = draw(TEMPLATES[topic])
    raws: list[str] = []
    for path in draw(st.lists(st.sampled_from(_paths(record)), min_size=1, max_size=4)):
        try:
            kind = draw(st.sampled_from(["value", "value", "raw", "delete"]))
            if kind == "raw":
                raws.append(draw(raw_values))
            value = RAW_MARK if kind == "raw" else draw(json_values)
            _set(record, path, value, delete=kind == "delete")
        except (KeyError, TypeError):  # a parent already replaced or removed
            continue
    text = json.dumps(record, allow_nan=True, ensure_ascii=draw(st.booleans()))
    for raw in raws:
        text = text.replace(json.dumps(RAW_MARK), raw, 1)
    return text.encode("utf-8", "surrogatepass")


def _add_one(topic: str, value: bytes | None, partition: int, offset: int, timestamp: int) -> None:
    """Feed one record to a fresh sink; exactly one row must come out, and it must be
    writable: its table's row, or a dead letter."""
    sink = Sink(SETTINGS, client=FakeClickHouse(SETTINGS))
    sink.add(
        {TopicPartition(topic, partition): [Record(topic, partition, offset, timestamp, value)]}
    )
    buffer, dlq = sink.buffers[topic], sink.dlq
    made = [(b, i) for b in {id(buffer): buffer, id(dlq): dlq}.values() for i in range(len(b.rows))]
    assert len(made) == 1, made
    (target, i) = made[0]
    is_letter = target.sources[i] is None
    types = DLQ_TYPES if is_letter else TYPES[topic]
    columns = list(dead_letters.COLUMNS if is_letter else ROUTES[topic].columns)
    serialize(types, columns, [target.rows[i]])
    if is_letter:
        letter = dict(zip(columns, target.rows[i], strict=True))
        assert letter["reason_code"] == "unreadable_record"
        assert (letter["source_topic"], letter["source_offset"]) == (topic, offset)
        assert not re.search(rf"(?<!\d){MSISDN}(?!\d)", letter["payload"])  # \d: any script
    assert sink.pending == {TopicPartition(topic, partition): offset + 1}


positions = {
    "partition": st.integers(0, 65535),
    "offset": st.integers(0, 2**63 - 1),
    "timestamp": st.integers(-1, 2**63 - 1),
}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), topic=st.sampled_from(sorted(ROUTES)))
def test_every_well_formed_record_makes_its_table_s_row(data: st.DataObject, topic: str) -> None:
    """The templates are real records: each makes its table's row, not a dead letter."""
    template = data.draw(TEMPLATES[topic])
    sink = Sink(SETTINGS, client=FakeClickHouse(SETTINGS))
    sink.add({TopicPartition(topic, 0): [Record(topic, 0, 5, 0, msgspec.json.encode(template))]})
    buffer = sink.buffers[topic]
    assert len(buffer.rows) == 1, topic
    assert buffer.sources[0] is not None, topic
    serialize(TYPES[topic], list(ROUTES[topic].columns), buffer.rows)


def test_every_routed_topic_has_templates() -> None:
    assert set(TEMPLATES) == set(ROUTES)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    topic=st.sampled_from(sorted(ROUTES)),
    value=st.none() | st.binary(max_size=300),
    **positions,
)
def test_arbitrary_bytes_on_any_topic_make_a_row_or_a_dead_letter(
    topic: str, value: bytes | None, partition: int, offset: int, timestamp: int
) -> None:
    _add_one(topic, value, partition, offset, timestamp)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), topic=st.sampled_from(sorted(ROUTES)), **positions)
def test_records_with_any_field_value_make_a_row_or_a_dead_letter(
    data: st.DataObject, topic: str, partition: int, offset: int, timestamp: int
) -> None:
    _add_one(topic, data.draw(broken_records(topic)), partition, offset, timestamp)


def test_a_partition_or_offset_past_its_column_does_not_stop_the_sink() -> None:
    """Kafka's positions are wider than the columns (UInt16 partition, UInt64 offset): such a
    record cannot even be dead-lettered, but it is only logged, never raised."""
    topic = SETTINGS.topic_events
    value = encode(make_event("web.login", msisdn=MSISDN))
    sink = Sink(SETTINGS, client=FakeClickHouse(SETTINGS))
    sink.add({TopicPartition(topic, 70_000): [Record(topic, 70_000, 1, 0, value)]})
    sink.add({TopicPartition(topic, 1): [Record(topic, 1, -1, 0, value)]})
    assert sink.buffered == 0
    stamp = int(datetime(2026, 11, 27, tzinfo=UTC).timestamp() * 1000)
    sink.add({TopicPartition(topic, 1): [Record(topic, 1, 2**64, stamp, value)]})
    assert sink.buffered == 0
