"""The sink against the real broker and ClickHouse: migrations, exact counts, crash replay."""

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
import pytest
from clickhouse_driver import Client
from kafka import KafkaProducer

from dashboards.alerts import changes
from kernel.settings import Settings
from sinks import migrations
from sinks.client import connect
from sinks.stage import SinkStage
from sinks.tables import nudge_decisions
from sinks.writer import Sink
from streams.routing import RawMessage, route
from tests.factories import encode, mixed_events
from tests.fixtures.services import Topics

pytestmark = pytest.mark.integration


def test_migration_numbers_are_unique_and_ordered() -> None:
    names = migrations.available()
    assert names == sorted(names)
    assert names[0] == "0001_initial"


def test_migrate_creates_every_table_and_is_idempotent(
    settings: Settings, clickhouse_db: str
) -> None:
    assert migrations.migrate(settings) == migrations.available()
    assert migrations.migrate(settings) == []
    tables = {t for (t,) in connect(settings).execute("SHOW TABLES")}
    assert {"events", "events_per_minute", "events_per_minute_mv", "dead_letters"} <= tables


REKEY = "0019_nudge_decisions_keyed_by_reason"


def test_nudge_decisions_rebuilt_keep_both_reasons_of_one_instant_even_when_interrupted(
    settings: Settings, clickhouse_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    every = migrations.available()
    monkeypatch.setattr(migrations, "available", lambda: [n for n in every if n != REKEY])
    migrations.migrate(settings)
    client = connect(settings)
    # The table as migration 0002 made it before the reason joined its key.
    client.execute("DROP TABLE nudge_decisions")
    (create,) = nudge_decisions.TABLE.create_statements
    client.execute(create.replace("outcome, reason)", "outcome)").format(db=clickhouse_db))
    # A campaign member refused for the budget, then as a duplicate when its chunk came again.
    client.execute(
        "INSERT INTO nudge_decisions (decision_id, nudge_id, rule_id, outcome, reason, "
        "decided_at, requested_at) VALUES",
        [(f"n1:suppressed:{reason}", "n1", "campaign:spring", "suppressed", reason,
          datetime(2026, 3, 3, 7, tzinfo=UTC), datetime(2026, 3, 3, 7, tzinfo=UTC))
         for reason in ("budget_exhausted", "duplicate")],
    )  # fmt: skip
    # Interrupted after the copy out and the drop: the run again must not lose the rows.
    for statement in migrations.operations(REKEY)[:3]:
        client.execute(statement.format(db=clickhouse_db))
    monkeypatch.setattr(migrations, "available", lambda: every)
    assert migrations.migrate(settings) == [REKEY]
    client.execute("OPTIMIZE TABLE nudge_decisions FINAL")
    rows = client.execute("SELECT reason FROM nudge_decisions ORDER BY reason")
    assert rows == [("budget_exhausted",), ("duplicate",)]
    tables = {t for (t,) in client.execute("SHOW TABLES")}
    assert "nudge_decisions_rekeyed" not in tables


def _produce_canonical(settings: Settings, raws: list[bytes], *, times: int = 1) -> None:
    """Route ``raws`` as if read from raw offsets 0..n-1, ``times`` times over (a replay)."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    for i, raw in [*enumerate(raws)] * times:
        routed = route(RawMessage(raw, None, settings.topic_raw, 0, i, 1_800_000_000.0))
        topic = settings.topic_events if routed.destination == "events" else settings.topic_dlq
        producer.send(topic, routed.value, key=routed.key)
    producer.flush()
    producer.close()


def _counts(client: Client) -> tuple[int, int, int, int]:
    ((rows, ids),) = client.execute("SELECT count(), uniqExact(event_id) FROM events")
    ((per_minute,),) = client.execute("SELECT sum(events) FROM events_per_minute")
    ((letters,),) = client.execute("SELECT count() FROM dead_letters")
    return rows, ids, per_minute, letters


def _run(settings: Settings, sink: Sink, done: Callable[[], bool], timeout: float = 60) -> None:
    """Run ``sink`` as its stage until ``done()``, or for ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    stage = SinkStage(settings, sink=sink)
    asyncio.run(stage.run_until(lambda: time.monotonic() > deadline or done()))


def test_sink_writes_each_event_once_even_when_the_topic_repeats_it(
    settings: Settings, topics: Topics, clickhouse_db: str
) -> None:
    migrations.migrate(settings)
    events = [encode(e) for e in mixed_events(500)]
    bad = [b"not json", b'{"event_type": "ivr.nope"}']
    # Everything twice, as a worker replaying its uncommitted tail would produce it.
    _produce_canonical(settings, events + bad, times=2)
    client = connect(settings)
    sink = Sink(settings)
    _run(settings, sink, lambda: sink.progress()["events"]["duplicates_dropped"] >= 500)
    assert _counts(client) == (500, 500, 500, 2)


def test_a_batch_written_but_not_committed_is_not_written_again(
    settings: Settings, topics: Topics, clickhouse_db: str
) -> None:
    migrations.migrate(settings)
    _produce_canonical(settings, [encode(e) for e in mixed_events(300)])
    client = connect(settings)

    class CrashedError(Exception):
        pass

    class CrashBeforeCommit(Sink):
        def flush(self) -> bool:
            for buffer in self.buffers.values():
                if buffer.rows:
                    self.write(buffer)
            raise CrashedError  # dies between the insert and the offset commit

    with pytest.raises(CrashedError):
        _run(settings, CrashBeforeCommit(settings), lambda: _counts(client)[0] >= 300)
    assert _counts(client)[0] > 0

    restarted = Sink(settings)
    seen = restarted.buffers[settings.topic_events]
    _run(settings, restarted, lambda: seen.duplicates + seen.written + len(seen.rows) >= 300)
    assert seen.duplicates > 0
    rows, ids, per_minute, _ = _counts(client)
    assert (rows, ids, per_minute) == (300, 300, 300)


def test_a_record_that_makes_no_row_becomes_a_dead_letter_and_the_rest_still_land(
    settings: Settings, topics: Topics, clickhouse_db: str
) -> None:
    """Only our services write the internal topics, but a stray producer or a bug must not
    stop every table behind one record: it is dead-lettered with the reason, and skipped."""
    migrations.migrate(settings)
    now = datetime.now(UTC)
    good = changes.resets(["asa-slow"], by="ops", now=now)[0]
    poison = {
        settings.topic_alert_rules: [b"not json", b'{"rule_id": "asa-slow"}'],
        settings.topic_nudges_decisions: [b"[1, 2, 3]"],
    }
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    for topic, values in poison.items():
        for value in values:
            producer.send(topic, value, partition=0)
    producer.send(settings.topic_alert_rules, msgspec.json.encode(good), partition=0)
    producer.flush()
    producer.close()

    client = connect(settings)
    _run(
        settings,
        Sink(settings),
        lambda: client.execute("SELECT count() FROM alert_rule_changes") == [(1,)],
    )
    assert client.execute("SELECT change_id FROM alert_rule_changes") == [(good.change_id,)]
    letters = client.execute(
        "SELECT source_topic, source_offset, reason_code, payload, message FROM dead_letters "
        "ORDER BY source_topic, source_offset"
    )
    assert [(t, o, code, p) for t, o, code, p, _ in letters] == sorted(
        (topic, offset, "unreadable_record", value.decode())
        for topic, values in poison.items()
        for offset, value in enumerate(values)
    )
    assert all("the sink cannot turn this" in message for *_, message in letters)
