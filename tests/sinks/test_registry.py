"""The contract registry against the code and the real ClickHouse.

Every topic the platform creates has a contract, every table a contract names exists, the
migrations create every table's statements exactly once, and one record of every topic the
sink reads goes the whole way: encoded as its producer does, decoded by the sink, made a row,
inserted, and read back unchanged. The records are drawn from each contract's type
(:func:`tests.records.records`), so a new topic needs nothing here.
"""

import itertools
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hypothesis
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channelhub.platform.broker import topic_names
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from schemas.registry import CONTRACTS
from sinks import migrations
from sinks.client import connect
from sinks.routes import TABLES, VIEWS, decoders, fed, routes
from sinks.tables import FILL_SLICES, Table, View
from tests.fixtures.services import local_settings
from tests.records import comparable, readable_numbers, records


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


#: A migration's drop of a table or view no longer in the registry.
_DROPPED = re.compile(r"DROP TABLE IF EXISTS \{db\}\.(\w+)$")


def test_the_migrations_create_every_statement_once_and_twice_what_they_rebuild() -> None:
    applied = [s for name in migrations.available() for s in migrations.operations(name)]
    registered = [s for thing in _everything() for s in thing.create_statements]
    registered += [s for view in VIEWS.values() for s in view.fill_statements]
    missing = set(registered) - set(applied)
    assert not missing, (
        "a table's statements are in no migration: `channelhub migrate --new` writes one: "
        f"{sorted(missing)}"
    )
    # Beside them only the ALTERs written by hand for a table made before a change, and the
    # making, copying and dropping of what a later migration dropped or rebuilt.
    dropped = {m[1] for s in applied if (m := _DROPPED.match(s))}
    assert {"ivr_calls_per_hour", "nudge_decisions_rekeyed"} <= dropped

    def names_dropped(statement: str) -> bool:
        return any(
            f"{{db}}.{name} " in statement or statement.endswith(f"{{db}}.{name}")
            for name in dropped
        )

    # Only a table rebuilt by a later migration is created twice (as the registry makes it).
    assert all(names_dropped(s) for s in applied if applied.count(s) > 1)
    kept = {s for s in applied if not s.lstrip().startswith("ALTER") and not names_dropped(s)}
    assert kept == {s for s in registered if not names_dropped(s)}


def test_a_new_table_gets_its_migration_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opt_outs = TABLES["opt_outs"]
    statements = tuple(s.replace("opt_outs", "opt_outs_v2") for s in opt_outs.create_statements)
    monkeypatch.setitem(
        TABLES, "opt_outs_v2", replace(opt_outs, name="opt_outs_v2", create_statements=statements)
    )
    assert migrations.uncreated() == ["opt_outs_v2"]
    (path,) = migrations.write_missing(tmp_path)
    last = max(int(name[:4]) for name in migrations.available())
    assert path.name == f"{last + 1:04d}_opt_outs_v2.py"
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    assert namespace["OPERATIONS"] == statements


# One record of every contract per example: with a score of contracts that is more data than
# hypothesis likes to draw at once, and it is meant to be.
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_contract_s_records_decode_as_its_producer_encodes_them(data: st.DataObject) -> None:
    for contract in CONTRACTS:
        if contract.record is msgspec.Raw:
            continue
        record = data.draw(records(contract.record), label=contract.setting)
        assert msgspec.json.decode(msgspec.json.encode(record), type=contract.record) == record


@pytest.mark.integration
def test_records_of_every_topic_round_trip_through_their_tables(
    settings: Settings, clickhouse_db: str
) -> None:
    """Every CREATE renders on the real server, and each topic's records come back as the rows
    the sink made of them, with no subscriber number readable."""
    migrations.migrate(settings)
    client = connect(settings)
    pseudonymize = Pseudonymizer(b"k")
    decode, tables = decoders(settings), routes(settings)
    ingested = datetime.now(UTC).replace(microsecond=0)
    offsets = itertools.count()
    for thing in _everything():
        assert client.execute(f"EXISTS TABLE {clickhouse_db}.{thing.name}") == [(1,)]

    @hypothesis.settings(max_examples=15, deadline=None, database=None)
    @given(data=st.data())
    def round_trip(data: st.DataObject) -> None:
        for contract in fed():
            topic = contract.topic(settings)
            table = tables[topic]
            drawn = data.draw(records(contract.record), label=contract.setting)
            record = decode[topic](msgspec.json.encode(drawn))
            assert isinstance(record, contract.record), contract.setting
            offset = next(offsets)
            _, row = table.row(
                record, partition=3, offset=offset, ingested_at=ingested, pseudonymize=pseudonymize
            )
            client.execute(table.insert.format(db=clickhouse_db), [row])
            (back,) = client.execute(
                f"SELECT {', '.join(table.columns)} FROM {clickhouse_db}.{table.name} "
                "WHERE kafka_offset = %(offset)s",
                {"offset": offset},
            )
            assert [comparable(v) for v in back] == [comparable(v) for v in row], table.name
            assert not readable_numbers(repr(back)), table.name

    try:
        round_trip()
    finally:
        client.disconnect()


def test_a_sliced_fill_runs_once_per_share_of_the_subscribers() -> None:
    fill = "INSERT INTO {db}.t SELECT * FROM {db}.events WHERE {slice}"
    parts = migrations.rendered(None, "ch", fill)
    assert len(parts) == FILL_SLICES
    share = f"cityHash64(subscriber) % {FILL_SLICES} = 3"
    assert parts[3] == f"INSERT INTO ch.t SELECT * FROM ch.events WHERE {share}"
    assert migrations.rendered(None, "ch", "SELECT 1 FROM {db}.t") == ("SELECT 1 FROM ch.t",)
    sliced_fills = [s for view in VIEWS.values() for s in view.fill_statements if "{slice}" in s]
    # the contacts', the IVR calls', the demand's and the SMS dialogues' fills
    assert len(sliced_fills) == 7
