"""Rotating the pseudonym key on the real ClickHouse: ``channelhub pseudonyms rotate``.

The oracle is the sink itself: a row written under the old key and then re-keyed must be,
column for column, the row the sink makes of the same record under the new key. And the joins
the data-protection review asked about hold across the change: a subscriber's history is one
subscriber, an opt-out recorded before the rotation still keeps them out of a campaign
audience after it, and a number mentioned in a text still joins to the subscriber.
"""

import itertools
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from channelhub.platform.env import settings_env
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from orchestration.campaigns.audience import members_query
from schemas.campaign_spec import Audience, ChannelUse
from schemas.events import SmsMessageReceived
from schemas.nudges import OptOutRecorded
from sinks import migrations, rekey
from sinks.client import connect
from sinks.routes import decoders, fed, routes
from tests.factories import make_event
from tests.records import comparable, records

pytestmark = pytest.mark.integration

RETIRED = re.compile(r"k1\.[0-9a-f]{32}")
OLD, NEW = "the old pseudonym key, long enough to pass", "the new pseudonym key, after rotation"


def _rotated(settings: Settings) -> Settings:
    """``settings`` after the key rotated: a new active key 2, the old one retired."""
    return settings.model_copy(
        update={
            "pseudonym_key": settings.pseudonym_key.__class__(NEW),
            "pseudonym_key_id": 2,
            "pseudonym_retired_keys": {1: settings.pseudonym_key.__class__(OLD)},
        }
    )


def _old(settings: Settings) -> Settings:
    return settings.model_copy(update={"pseudonym_key": settings.pseudonym_key.__class__(OLD)})


def _retired_left(settings: Settings) -> dict[str, int]:
    """Rows of every table holding a pseudonym under key 1 anywhere, read back whole (an
    aggregate state as its value) and searched here (not with the rotation's own SQL)."""
    client = connect(settings)
    try:
        left = {}
        for (table,) in client.execute("SHOW TABLES"):
            columns = ", ".join(
                f"finalizeAggregation({name})" if kind.startswith("AggregateFunction") else name
                for name, kind, *_ in client.execute(f"DESCRIBE TABLE {table}")
            )
            rows = client.execute(f"SELECT {columns} FROM {table}")
            if n := sum(1 for row in rows if RETIRED.search(repr(row))):
                left[table] = n
        return left
    finally:
        client.disconnect()


def test_re_keyed_rows_are_the_rows_the_new_key_makes(
    settings: Settings, clickhouse_db: str
) -> None:
    migrations.migrate(settings)
    old, new = (
        Pseudonymizer.from_settings(_old(settings)),
        Pseudonymizer.from_settings(_rotated(settings)),
    )
    decode, tables = decoders(settings), routes(settings)
    ingested = datetime.now(UTC).replace(microsecond=0)
    offsets = itertools.count()
    written: set[tuple[str, str]] = set()
    client = connect(settings)

    @hypothesis.settings(
        max_examples=2,
        deadline=None,
        database=None,
        phases=[hypothesis.Phase.generate],  # each example is seconds of mutations
    )
    @given(data=st.data())
    def rotate_and_compare(data: st.DataObject) -> None:
        expected: list[tuple[str, int, tuple[Any, ...]]] = []
        for contract in fed():
            topic = contract.topic(settings)
            table = tables[topic]
            for n in range(2):
                drawn = data.draw(records(contract.record), label=f"{contract.setting} {n}")
                record = decode[topic](msgspec.json.encode(drawn))
                offset = next(offsets)
                position = {"partition": 1, "offset": offset, "ingested_at": ingested}
                key, row = table.row(record, pseudonymize=old, **position)  # type: ignore[arg-type]
                if (table.name, key) in written:
                    continue  # one row per id: ReplacingMergeTree keeps only one
                written.add((table.name, key))
                client.execute(table.insert.format(db=clickhouse_db), [row])
                _, want = table.row(record, pseudonymize=new, **position)  # type: ignore[arg-type]
                expected.append((table.name, offset, want))
        rekey.rotate(_rotated(settings), progress=lambda _: None)
        for name, offset, want in expected:
            columns = tables_by_name[name].columns
            got = client.execute(
                f"SELECT {', '.join(columns)} FROM {name} FINAL WHERE kafka_offset = %(o)s",
                {"o": offset},
            )
            assert [comparable(v) for v in got] == [comparable(want)], name

    tables_by_name = {t.name: t for t in tables.values()}
    try:
        rotate_and_compare()
    finally:
        client.disconnect()
    assert _retired_left(settings) == {}


def _sms(msisdn: str, text: str, at: datetime) -> bytes:
    return msgspec.json.encode(
        make_event(
            "sms.message_received",
            msisdn=msisdn,
            occurred_at=at.isoformat(),
            attributes={"text": text, "matched_code": None, "match_kind": "unknown"},
        )
    )


def test_history_opt_outs_and_audiences_join_across_the_rotation(
    settings: Settings, clickhouse_db: str
) -> None:
    migrations.migrate(settings)
    a, b, c, d = "13800000001", "13800000002", "13800000003", "13800000004"
    tables = routes(settings)
    events, optouts = tables[settings.topic_events], tables[settings.topic_nudges_optouts]
    decode = decoders(settings)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    offsets = itertools.count()
    client = connect(settings)

    def write(ring: Pseudonymizer, msisdn: str, text: str, hours: int) -> None:
        record = decode[settings.topic_events](_sms(msisdn, text, start + timedelta(hours=hours)))
        assert isinstance(record, SmsMessageReceived)
        _, row = events.row(
            record, partition=0, offset=next(offsets), ingested_at=start, pseudonymize=ring
        )
        client.execute(events.insert.format(db=clickhouse_db), [row])

    old = Pseudonymizer.from_settings(_old(settings))
    for hours, who in enumerate((a, b, c)):
        write(old, who, f"查询 +86 {b[:3]} {b[3:7]} {b[7:]} 的话费", hours)
    opt_out = OptOutRecorded(msisdn=b, scope="*", event_id="e-opt-out", at=start)
    _, row = optouts.row(
        opt_out, partition=0, offset=next(offsets), ingested_at=start, pseudonymize=old
    )
    client.execute(optouts.insert.format(db=clickhouse_db), [row])

    rotated = _rotated(settings)
    cli = subprocess.run(
        [sys.executable, "-m", "channelhub.cli", "pseudonyms", "rotate"],
        env={**os.environ, **settings_env(rotated)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    summary = json.loads(cli.stdout.splitlines()[-1])
    assert summary["key_id"] == 2
    assert summary["rows"] == {"events": 3, "opt_outs": 1}
    assert "re-keying" in cli.stderr

    new = Pseudonymizer.from_settings(rotated)
    for hours, who in enumerate((a, b, c, d), start=10):
        write(new, who, "余额", hours)

    rows = client.execute("SELECT subscriber, count() FROM events GROUP BY subscriber")
    assert dict(rows) == {new(a): 2, new(b): 2, new(c): 2, new(d): 1}  # one history each
    (mentions,) = client.execute(
        "SELECT countIf(position(attributes, %(token)s) > 0) FROM events",
        {"token": f"msisdn:{new(b)}"},
    )
    assert mentions == (3,)  # the texts from before still name subscriber b
    audience = Audience(used=(ChannelUse(channels=("sms",), within_days=7),))
    sql, params = members_query(clickhouse_db, audience, datetime.now(UTC))
    members = {m for m, *_ in client.execute(sql, params)}
    assert members == {new(a), new(c), new(d)}  # b opted out before the rotation
    client.disconnect()

    again = rekey.rotate(rotated, progress=lambda _: None)
    assert again.rows == {}
    assert _retired_left(settings) == {}


def test_a_rotation_with_nothing_retired_changes_nothing(
    settings: Settings, clickhouse_db: str
) -> None:
    migrations.migrate(settings)
    said: list[str] = []
    assert rekey.rotate(settings, progress=said.append).rows == {}
    assert said == ["key 1 is the only key: nothing to rotate"]
