"""The SQL on the current ClickHouse as well as on the local 18.16 server.

``docker-compose.yml`` deploys a current ClickHouse, the tests' server is 18.16: every
migration runs on the current engine (embedded, :mod:`tests.fixtures.current_engine`), and the
same rows, written into both, give the same answer to every dashboard panel, the campaign
audience queries, the uplift view and the campaign list. The 18.16 server is the oracle; the
comparison allows only the last digits of a float, where the two engines may sum in another
order.
"""

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import hypothesis
import msgspec
import pytest
from clickhouse_driver import Client
from hypothesis import strategies as st

from channelhub.marketing import audience as marketing_audience
from channelhub.marketing import store, uplift
from dashboards.alerts import changes, service
from dashboards.queries import catalogue, cross_channel, marketing, queue, wait_predictions
from dashboards.queries.panels import panels
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from orchestration.campaigns.audience import members_query
from orchestration.catalogue import Retired
from orchestration.queue_wait import QueueWaits, prediction_event
from schemas import Event as Canonical
from schemas.campaign_spec import AgentContacts, Audience, ChannelUse
from schemas.catalogue import IvrItem, SmsHallCode, WebFunction
from schemas.events import IvrQueueEntered
from schemas.nudges import OptOutRecorded
from sinks import migrations, rekey
from sinks.client import connect
from sinks.routes import TABLES, VIEWS, decoders, fed, routes
from tests.dashboards.deep_dive_data import ending_now, simulated
from tests.factories import make_event
from tests.fixtures.current_engine import CurrentEngine
from tests.records import records

pytestmark = pytest.mark.integration

#: Rule ids the drawn nudge rows take, so the funnel and uplift panels have rules to show.
RULES = ("survey.satisfaction", "agent_self_serviceable", "campaign:spring")


@pytest.fixture(scope="module")
def current(tmp_path_factory: pytest.TempPathFactory) -> CurrentEngine:
    engine = CurrentEngine(tmp_path_factory.mktemp("chdb"))
    for name in migrations.available():
        for statement in migrations.operations(name):
            for part in migrations.rendered(None, engine.database, statement):
                engine.execute(part)
    return engine


def test_every_migration_creates_its_tables_on_the_current_engine(current: CurrentEngine) -> None:
    assert current.version.split(".")[0] >= "25"
    tables = {name for (name,) in current.execute("SHOW TABLES")}
    made = {
        name
        for thing in [*TABLES.values(), *VIEWS.values()]
        for statement in thing.create_statements
        for name in [statement.split("{db}.")[1].split()[0]]
    }
    assert made <= tables


def _rows(settings: Settings, now: datetime) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """(table, rows) of simulated traffic ending now and drawn records of every other topic,
    their times moved into the last week and their rule and nudge ids shared, so that the
    panels' joins find each other."""
    ring = Pseudonymizer.from_settings(settings)
    traffic = _with_predictions(simulated(20_000, seed=21, start=ending_now(20_000, seed=21)))
    events = TABLES["events"]
    yield (
        "events",
        [
            events.row(
                msgspec.json.decode(msgspec.json.encode(e), type=Canonical),
                partition=i % 4,
                offset=i,
                ingested_at=now,
                pseudonymize=ring,
            )[1]
            for i, e in enumerate(traffic)
        ],
    )
    decode, tables = decoders(settings), routes(settings)
    counter = itertools.count()

    @hypothesis.settings(
        max_examples=30, deadline=None, database=None, phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),  # one large draw on purpose
    )  # fmt: skip
    @hypothesis.given(data=st.data())
    def draw(data: st.DataObject) -> None:
        for contract in fed():
            table = tables[contract.topic(settings)]
            if table.name == "events":
                continue
            drawn = data.draw(st.lists(records(contract.record), min_size=1, max_size=1))
            rows = []
            for record in drawn:
                i = next(counter)
                key, row = table.row(
                    decode[contract.topic(settings)](msgspec.json.encode(record)),
                    partition=i % 4, offset=i, ingested_at=now, pseudonymize=ring,
                )  # fmt: skip
                row = _shared(table.columns, row, i, now)
                # As the sink writes them: one row per id, and one decision per nudge (an
                # any() over two would pick either, on either engine).
                nudge = row[table.columns.index("nudge_id")] if "nudge_id" in table.columns else key
                if (table.name, key) in seen or (table.name, nudge) in seen:
                    continue
                seen.update({(table.name, key), (table.name, nudge)})
                rows.append(row)
            drawn_rows.append((table.name, rows))  # each of the examples adds its rows

    drawn_rows: list[tuple[str, list[tuple[Any, ...]]]] = []
    seen: set[tuple[str, str]] = set()
    draw()
    yield from drawn_rows


def _with_predictions(traffic: list[Any]) -> list[Any]:
    """The traffic with each queue join followed by its wait prediction, as the waits stage
    adds them."""
    waits, out = QueueWaits(), []
    for raw in traffic:
        out.append(raw)
        event = msgspec.json.decode(msgspec.json.encode(raw), type=Canonical)
        prediction = waits.observe(event)
        if prediction is not None and isinstance(event, IvrQueueEntered):
            out.append(msgspec.to_builtins(prediction_event(event, prediction)))
    assert len(out) > len(traffic)
    return out


def _shared(columns: tuple[str, ...], row: tuple[Any, ...], i: int, now: datetime) -> tuple:
    """A drawn row with its times in the last week and ids other tables share."""
    out = []
    for column, value in zip(columns, row, strict=True):
        if isinstance(value, datetime) and column != "ingested_at":
            value = now - timedelta(minutes=(i * 97) % (7 * 24 * 60))
        elif column == "rule_id":
            value = RULES[i % len(RULES)]
        elif column == "nudge_id":
            value = f"nudge-{i % 60}"
        out.append(value)
    return tuple(out)


@pytest.fixture(scope="module")
def filled(
    current: CurrentEngine, clickhouse_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Client, CurrentEngine, datetime, Settings]]:
    """The same rows in the 18.16 server and in the current engine."""
    from tests.fixtures.services import local_settings

    settings = local_settings(
        environment="development",
        state_dir=tmp_path_factory.mktemp("engines"),
        clickhouse_host=clickhouse_server.host,
        clickhouse_port=clickhouse_server.port,
        clickhouse_http_port=clickhouse_server.http_port,
        clickhouse_database="test_engines",
    )
    migrations.migrate(settings)
    server = connect(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    for table, rows in _rows(settings, now):
        insert = TABLES[table].insert
        server.execute(insert.format(db=settings.clickhouse_database), rows)
        for start in range(0, len(rows), 2000):
            current.execute(insert.format(db=current.database), rows[start : start + 2000])
    yield server, current, now, settings
    server.execute("DROP DATABASE IF EXISTS test_engines")
    server.disconnect()


def _same(value: Any) -> Any:
    """``value`` as both engines must agree on it: times as seconds, floats to nine digits."""
    if is_dataclass(value) and not isinstance(value, type):
        return _same(asdict(value))
    if isinstance(value, dict):
        return {str(k): _same(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_same(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=UTC).timestamp()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return "nan" if math.isnan(value) else float(f"{value:.9g}")
    return value


def test_every_panel_answers_the_same_on_both_engines(
    filled: tuple[Client, CurrentEngine, datetime, Settings],
) -> None:
    server, current, now, settings = filled
    answered = 0
    for name, panel in panels(settings.topic_partitions, now).items():
        expected = panel(server)
        assert _same(panel(current)) == _same(expected), name  # type: ignore[arg-type]
        answered += bool(_same(expected))
    assert answered >= len(panels(settings.topic_partitions, now)) - 2  # hardly any empty


def _other_queries(now: datetime) -> dict[str, Callable[[Any, str], Any]]:
    """The dashboard's queries that are no panel of their own: (client, database) → answer."""
    hour = now - timedelta(hours=1)
    retired = [
        Retired(entry=IvrItem(keys="1-1"), service="query.realtime_charges", at=hour),
        Retired(entry=SmsHallCode(code="0101", keywords=("HF", "话费")), service="q.x", at=hour),
        Retired(entry=WebFunction(function="bill.monthly"), service="query.monthly_bill",
                at=now - timedelta(days=1)),
    ]  # fmt: skip
    return {
        "catalogue.unmet": lambda c, _: catalogue.unmet(c, retired, now),
        "cross_channel.last_seen": lambda c, _: cross_channel.last_seen(c, "ivr", "sms"),
        "marketing.sources": lambda c, _: marketing.sources(c),
        "queue.waiting": lambda c, _: queue.waiting(c, now),
        "queue.occupancy": lambda c, _: queue.occupancy(c, hour, now),
        "queue.stats": lambda c, _: queue.stats(c, hour, now, queue.Rules()),
        "queue.newest_call": lambda c, _: queue.newest_call(c, now),
        "wait_predictions.accuracy": lambda c, _: wait_predictions.accuracy(c, hour, now),
        "wait_predictions.effect": lambda c, _: wait_predictions.effect(
            c, RULES[0], now - timedelta(days=7), now
        ),
        "wait_predictions.in_queue_rules": lambda c, _: wait_predictions.in_queue_rules(c),
        "alerts.latest_rule_changes": lambda c, db: changes.latest(c, db),
        "alerts.recorded_open": lambda c, db: service.recorded_open(c, db),
    }


def test_the_other_dashboard_queries_answer_the_same_on_both_engines(
    filled: tuple[Client, CurrentEngine, datetime, Settings],
) -> None:
    server, current, now, settings = filled
    for name, query in _other_queries(now).items():
        expected = query(server, settings.clickhouse_database)
        assert _same(query(current, current.database)) == _same(expected), name


@pytest.mark.parametrize(
    "audience",
    [
        Audience(),
        Audience(prefectures=("changsha", "yueyang"), brands=("gotone",)),
        Audience(used=(ChannelUse(channels=("sms", "ivr"), within_days=7),)),
        Audience(not_used=(ChannelUse(channels=("web",), within_days=30),)),
        Audience(agent_contacts=AgentContacts(within_days=7, min=1)),
    ],
)
def test_campaign_audiences_are_the_same_on_both_engines(
    filled: tuple[Client, CurrentEngine, datetime, Settings], audience: Audience
) -> None:
    server, current, now, settings = filled
    db = settings.clickhouse_database
    expected = marketing_audience.preview(server, db, audience, now)
    assert expected.size > 0
    got = marketing_audience.preview(current, current.database, audience, now)  # type: ignore[arg-type]
    assert _same(got) == _same(expected)
    members = list(marketing_audience.members(server, db, audience, now))
    assert list(marketing_audience.members(current, current.database, audience, now)) == members  # type: ignore[arg-type]


def test_uplift_and_the_campaign_list_are_the_same_on_both_engines(
    filled: tuple[Client, CurrentEngine, datetime, Settings],
) -> None:
    server, current, _, settings = filled
    db = settings.clickhouse_database
    expected = uplift.uplift(server, db)
    assert expected
    assert _same(uplift.uplift(current, current.database)) == _same(expected)  # type: ignore[arg-type]
    campaigns = store.list_campaigns(server, db)
    assert _same(store.list_campaigns(current, current.database)) == _same(campaigns)  # type: ignore[arg-type]


def test_a_key_rotation_re_keys_the_current_engine_too(current: CurrentEngine) -> None:
    """``channelhub pseudonyms rotate`` on the engine the deployment runs: the same history,
    opt-out and audience joins as on 18.16 (``tests/sinks/test_rekey.py``)."""
    db = "rekeyed"
    current.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    for name in migrations.available():
        for statement in migrations.operations(name):
            for part in migrations.rendered(None, db, statement):
                current.execute(part)
    old = Pseudonymizer(b"the old key")
    new = Pseudonymizer(b"the new key", key_id=2, retired={1: b"the old key"})
    a, b, c = "13800000001", "13800000002", "13800000003"
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    events, opt_outs = TABLES["events"], TABLES["opt_outs"]
    rows = [
        events.row(
            msgspec.json.decode(
                msgspec.json.encode(
                    make_event(
                        "sms.message_received", msisdn=who, occurred_at=at.isoformat(),
                        attributes={"text": f"查 {b[:3]}-{b[3:7]}-{b[7:]}", "matched_code": None,
                                    "match_kind": "unknown"},
                    )
                ),
                type=Canonical,
            ),
            partition=0, offset=i, ingested_at=at, pseudonymize=old,
        )[1]
        for i, who in enumerate((a, b, c))
    ]  # fmt: skip
    current.execute(events.insert.format(db=db), rows)
    opt_out = OptOutRecorded(msisdn=b, scope="*", event_id="e-1", at=at)
    _, row = opt_outs.row(opt_out, partition=0, offset=9, ingested_at=at, pseudonymize=old)
    current.execute(opt_outs.insert.format(db=db), [row])

    done = rekey.rekey(current, db, new, progress=lambda _: None)  # type: ignore[arg-type]

    assert done.rows == {"events": 3, "opt_outs": 1}
    subscribers = current.execute(f"SELECT subscriber FROM {db}.events ORDER BY subscriber")
    assert sorted(s for (s,) in subscribers) == sorted([new(a), new(b), new(c)])
    ((mentions,),) = current.execute(
        f"SELECT countIf(position(attributes, %(token)s) > 0) FROM {db}.events",
        {"token": f"msisdn:{new(b)}"},
    )
    assert mentions == 3
    sql, params = members_query(db, Audience(), datetime.now(UTC))
    assert {m for m, *_ in current.execute(sql, params)} == {new(a), new(c)}
    assert rekey.rekey(current, db, new, progress=lambda _: None).rows == {}  # type: ignore[arg-type]
