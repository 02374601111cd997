"""The sink's writing against a fake ClickHouse: refusals bisected, outages waited out, and
duplicates dropped however late they come (:mod:`tests.sinks.fakes`)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from aiokafka import TopicPartition
from clickhouse_driver.errors import NetworkError, ServerException, TypeMismatchError
from hypothesis import given
from hypothesis import strategies as st

from sinks import writer
from sinks.tables import events
from sinks.writer import Sink, rows_at_fault
from streams.routing import RawMessage, route
from tests.factories import encode, make_event
from tests.sinks.fakes import FakeClickHouse, Record, stamp, unit_settings

SETTINGS = unit_settings()
TOPIC = SETTINGS.topic_events
TP = TopicPartition(TOPIC, 0)


def canonical(event: dict[str, Any]) -> bytes:
    return route(RawMessage(encode(event), None, "raw", 0, 0, 0.0)).value


def fresh_events(n: int, *, occurred: datetime | None = None) -> list[bytes]:
    at = (occurred or datetime.now(UTC) - timedelta(seconds=30)).isoformat()
    return [canonical(make_event("web.login", occurred_at=at)) for _ in range(n)]


def records(values: list[bytes], *, first_offset: int = 0) -> dict[TopicPartition, list[Record]]:
    now = stamp(datetime.now(UTC))
    return {TP: [Record(TOPIC, 0, first_offset + i, now, v) for i, v in enumerate(values)]}


def started(client: FakeClickHouse, **settings: Any) -> Sink:
    """A sink with partition 0 of every topic assigned, as after its first rebalance."""
    sink = Sink(SETTINGS.model_copy(update=settings), client=client)
    sink.assigned({TopicPartition(t, 0) for t in sink.buffers})
    return sink


def ids(client: FakeClickHouse, table: str = "events") -> list[str]:
    key = "dead_letter_id" if table == "dead_letters" else "event_id"
    return [row[key] for row in client.tables[table]]


@pytest.mark.parametrize(
    ("error", "at_fault"),
    [
        (ServerException("DB::Exception: Value passed to 'throwIf'", code=395), True),
        (ServerException("DB::Exception: Cannot parse input", code=27), True),
        (TypeMismatchError("ushort format requires 0 <= number <= 65535"), True),
        (AttributeError("'int' object has no attribute 'encode'"), True),
        (OverflowError("date value out of range"), True),
        (
            ServerException("DB::Exception: Too many partitions for single INSERT block", 252),
            True,
        ),
        (ServerException("DB::Exception: Too many parts (300)", code=252), False),
        (ServerException("DB::Exception: Memory limit exceeded", code=241), False),
        (ServerException("DB::Exception: Too many simultaneous queries", code=202), False),
        (ServerException("DB::Exception: Table test.events doesn't exist", code=60), False),
        (ServerException("DB::Exception: Query was cancelled", code=394), False),
        (NetworkError("Code: 210. Connection refused (127.0.0.1:9000)"), False),
        (ConnectionResetError(104, "Connection reset by peer"), False),
        (TimeoutError("timed out"), False),
        (EOFError("Unexpected EOF while reading bytes"), False),
    ],
)
def test_errors_are_the_rows_fault_only_when_about_their_content(
    error: Exception, at_fault: bool
) -> None:
    assert rows_at_fault(error) is at_fault


def test_a_row_clickhouse_refuses_is_bisected_out_and_dead_lettered() -> None:
    values = fresh_events(37)
    poison = msgspec.json.decode(values[23])
    poison.update(session_id="poison", msisdn="13812345678")  # a record, refused by the server
    values[23] = msgspec.json.encode(poison)
    client = FakeClickHouse(
        SETTINGS, refuse=lambda table, row: table == "events" and row["session_id"] == "poison"
    )
    sink = started(client)
    sink.add(records(values))
    assert sink.flush()
    assert sorted(ids(client)) == sorted(
        msgspec.json.decode(v)["event_id"] for v in values[:23] + values[24:]
    )
    (letter,) = client.tables["dead_letters"]
    assert letter["reason_code"] == "unwritable_row"
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == (
        TOPIC,
        0,
        23,
    )
    assert "code 395: Value passed to 'throwIf' function is non zero." in letter["message"]
    assert "Stack trace" not in letter["message"]
    assert "poison" in letter["payload"]
    assert "13812345678" not in letter["payload"]
    assert sink.take_pending() == {TP: 37}
    # landed: rows 0-17, 18-21, 22, 24-26 and 27-36, each in an insert of its own
    assert sink.progress()["events"] == {
        "written": 36,
        "inserts": 5,
        "duplicates_dropped": 0,
        "unwritable": 1,
    }


def test_values_the_client_refuses_for_a_narrower_column_are_dead_lettered() -> None:
    """As if ``kafka_offset`` had been altered to UInt8: offsets past 255 are refused by the
    client, one dead letter each, and the rest land."""
    client = FakeClickHouse(SETTINGS)
    client.types["events"]["kafka_offset"] = "UInt8"
    sink = started(client)
    sink.add(records(fresh_events(10), first_offset=250))
    assert sink.flush()
    assert sorted(r["kafka_offset"] for r in client.tables["events"]) == list(range(250, 256))
    letters = client.tables["dead_letters"]
    assert sorted(r["source_offset"] for r in letters) == list(range(256, 260))
    assert all("ubyte format requires" in r["message"] for r in letters)


def test_an_outage_keeps_the_rows_commits_nothing_and_ends_in_exact_counts() -> None:
    client = FakeClickHouse(SETTINGS)
    sink = started(client)
    client.down = True
    sink.add(records(fresh_events(5)))
    assert not sink.flush()
    assert not sink.flush()
    assert (sink.unavailable, sink.buffered, sink.pending) == (True, 5, {TP: 5})
    client.down = False
    assert sink.flush()
    assert len(ids(client)) == 5
    assert not sink.unavailable
    assert sink.take_pending() == {TP: 5}
    assert sink.pending == {}


class LandsThenFails(FakeClickHouse):
    """An insert that lands, but whose answer is lost with the connection."""

    lose_next_answer = True

    def execute(
        self,
        query: str,
        params: Any = None,
        external_tables: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Any, ...]]:
        result = super().execute(query, params, external_tables, **kwargs)
        if query.startswith("INSERT") and self.lose_next_answer:
            self.lose_next_answer = False
            raise NetworkError("Code: 210. Connection reset by peer")
        return result


def test_an_insert_that_landed_before_its_answer_was_lost_is_not_written_twice() -> None:
    client = LandsThenFails(SETTINGS)
    sink = started(client)
    sink.add(records(fresh_events(8)))
    assert not sink.flush()
    assert len(ids(client)) == 8
    assert sink.flush()
    assert len(ids(client)) == 8
    assert sink.progress()["events"]["duplicates_dropped"] == 8


def test_partitions_assigned_during_an_outage_are_remembered_before_the_first_insert() -> None:
    client = FakeClickHouse(SETTINGS)
    values = fresh_events(6)
    predecessor = started(client)
    predecessor.add(records(values[:4]))
    assert predecessor.flush()

    sink = started(client)
    client.down = True
    sink.assigned({TopicPartition(t, 0) for t in sink.buffers})  # no exception: loading waits
    sink.add(records(values))  # the predecessor's tail again, and two new
    assert not sink.flush()
    client.down = False
    client.statements.clear()
    assert sink.flush()
    assert sorted(ids(client)) == sorted(msgspec.json.decode(v)["event_id"] for v in values)
    first_insert = next(i for i, s in enumerate(client.statements) if s.startswith("INSERT"))
    assert any("max(ingested_at)" in s for s in client.statements[:first_insert])


def test_forgotten_rows_and_offsets_are_gone_and_the_next_flush_asks_clickhouse_first() -> None:
    client = FakeClickHouse(SETTINGS)
    sink = started(client)
    sink.add(records(fresh_events(2)))
    assert sink.flush()
    assert sink.take_pending() == {TP: 2}
    client.down = True
    sink.add(records(fresh_events(3), first_offset=2))
    assert not sink.flush()
    sink.forget()
    assert (sink.buffered, sink.pending) == (0, {})
    # Nothing left to write: the next attempt asks ClickHouse itself before reading resumes.
    client.statements.clear()
    assert not sink.flush()
    client.down = False
    assert sink.flush()
    assert client.statements == ["SELECT 1"]


def test_a_late_duplicate_is_looked_up_and_dropped_and_live_traffic_is_never_looked_up() -> None:
    client = FakeClickHouse(SETTINGS)
    old = fresh_events(3, occurred=datetime.now(UTC) - timedelta(days=1))
    first = started(client, sink_dedupe_window=2)
    first.add(records(old))
    assert first.flush()
    # Ingested two hours ago, as far as the table's memory can tell.
    for row in client.tables["events"]:
        row["ingested_at"] -= timedelta(hours=2)

    live = fresh_events(50)
    restarted = started(client, sink_dedupe_window=2)
    restarted.add(records(live))
    client.statements.clear()
    assert restarted.flush()
    assert not any("IN ids" in s for s in client.statements)

    restarted.add(records(old, first_offset=50))  # a day late, another ingest time
    assert restarted.flush()
    assert any("IN ids" in s for s in client.statements)
    assert len(ids(client)) == len(set(ids(client))) == 53
    assert restarted.progress()["events"]["duplicates_dropped"] == 3


def test_an_evicted_id_moves_the_horizon_so_its_duplicate_is_looked_up() -> None:
    client = FakeClickHouse(SETTINGS)
    sink = started(client, sink_dedupe_window=5, clock_skew_seconds=0)
    recent = fresh_events(1, occurred=datetime.now(UTC) - timedelta(seconds=200))
    sink.add(records(recent))
    assert sink.flush()
    sink.add(records(fresh_events(10), first_offset=1))  # pushes it out of the memory
    assert sink.flush()
    assert msgspec.json.decode(recent[0])["event_id"] not in sink.buffers[TOPIC].recent
    sink.add(records(recent, first_offset=11))
    assert sink.flush()
    assert len(ids(client)) == len(set(ids(client))) == 11


def test_a_stopping_sink_gives_up_after_its_patience(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "STOP_PATIENCE_S", 0.3)
    client = FakeClickHouse(SETTINGS)
    sink = started(client)
    client.down = True
    sink.add(records(fresh_events(2)))
    assert not sink.flush_before_stopping()
    assert (sink.buffered, sink.pending) == (2, {TP: 2})


def test_the_event_time_column_is_the_partition_key_of_every_table() -> None:
    """The lookup bounds its scan by the row's own time: the column partitions the table."""
    from sinks.routes import routes

    for table in routes(SETTINGS).values():
        create = table.create_statements[0]
        time_column = table.columns[table.event_time]
        assert f"toYYYYMM({time_column})" in create.replace(" ", ""), table.name
    assert events.TABLE.columns[events.TABLE.event_time] == "occurred_at"


def test_a_caught_up_sink_writes_on_its_timer_and_a_sink_behind_fills_its_batch() -> None:
    sink = started(FakeClickHouse(SETTINGS), sink_batch_size=10)
    sink.add(records(fresh_events(3)))
    t0 = sink._last_flush
    assert not sink.due(t0 + 0.1)  # before sink_flush_seconds
    assert sink.due(t0 + 0.6)  # caught up: the timer writes
    assert sink.due(t0 + 0.6, waiting=6)  # what waits cannot fill the batch of 10
    assert not sink.due(t0 + 0.6, waiting=7)  # it can: hold for one full insert
    assert sink.due(t0 + 5.0, waiting=10**6)  # but no longer than sink_catch_up_seconds
    sink.add(records(fresh_events(7), first_offset=3))
    assert sink.due(t0 + 0.1, waiting=10**6)  # a full batch is written at once


@given(
    held=st.integers(0, 30),
    since=st.floats(0, 10),
    waiting=st.integers(0, 100),
    more=st.integers(0, 100),
)
def test_more_records_waiting_never_make_a_flush_due_and_the_hold_is_bounded(
    held: int, since: float, waiting: int, more: int
) -> None:
    sink = started(FakeClickHouse(SETTINGS), sink_batch_size=20)
    if held:
        sink.add(records(fresh_events(held)))
    now = sink._last_flush + since
    if sink.due(now, waiting + more):
        assert sink.due(now, waiting)
    if held and since >= SETTINGS.sink_catch_up_seconds:
        assert sink.due(now, waiting)
    if not held:
        assert not sink.due(now, waiting)
