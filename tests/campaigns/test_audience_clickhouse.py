"""Audiences on the real ClickHouse 18.16 equal the same audiences computed in Python."""

from datetime import UTC, datetime, timedelta

import pytest

from channelhub.marketing.audience import members, preview
from channelhub.marketing.store import find_spec, list_campaigns
from kernel.settings import Settings
from orchestration.campaigns import AgentContacts, Audience, ChannelUse, UnknownCampaignError
from schemas.envelope import BRANDS, PREFECTURES
from sinks import migrations
from sinks.client import connect
from tests.campaigns.data import Known, Row, expected, insert, population

pytestmark = pytest.mark.integration

AS_OF = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)

AUDIENCES = [
    Audience(),
    Audience(prefectures=("changsha", "xiangxi", "loudi")),
    Audience(brands=("mzone", "enterprise")),
    Audience(used=(ChannelUse(channels=("sms",), within_days=30),)),
    Audience(not_used=(ChannelUse(channels=("ivr", "agent"), within_days=14),)),
    Audience(agent_contacts=AgentContacts(within_days=90, min=2)),
    Audience(agent_contacts=AgentContacts(within_days=30, max=0)),
    Audience(  # the shipped example's shape: lapsed SMS-hall users who called an agent
        brands=("gotone", "mzone", "easyown"),
        used=(ChannelUse(channels=("sms",), within_days=90),),
        not_used=(ChannelUse(channels=("sms",), within_days=30),),
        agent_contacts=AgentContacts(within_days=30, min=1),
    ),
    Audience(
        prefectures=PREFECTURES[:7],
        used=(
            ChannelUse(channels=("web", "wap"), within_days=7),
            ChannelUse(channels=("kiosk",), within_days=90),
        ),
        agent_contacts=AgentContacts(within_days=14, min=1, max=2),
    ),
]


@pytest.fixture
def known_db(settings: Settings, clickhouse_db: str) -> Settings:
    migrations.migrate(settings)
    return settings


def test_previews_and_members_equal_a_python_computation(known_db: Settings) -> None:
    known = population(1500, AS_OF, seed=3)
    insert(known_db, known)
    client = connect(known_db)
    db = known_db.clickhouse_database
    for as_of in (AS_OF, datetime(2026, 2, 10, 13, 30, 5, tzinfo=UTC)):
        for audience in AUDIENCES:
            want = expected(known, audience, as_of)
            seen = preview(client, db, audience, as_of)
            assert seen.size == len(want), audience
            assert seen.by_prefecture == {
                p: sum(m.prefecture == p for m in want.values()) for p in PREFECTURES
            }
            assert seen.by_brand == {b: sum(m.brand == b for m in want.values()) for b in BRANDS}
            got = list(members(client, db, audience, as_of))
            assert dict(got) == {s: m.partition for s, m in want.items()}
            assert got == sorted(got, key=lambda m: (m[1], m[0]))  # partition, then pseudonym
    # The fixture covers what it means to: exclusions, duplicates, boundaries.
    assert 0 < len(expected(known, AUDIENCES[5], AS_OF)) < len(expected(known, Audience(), AS_OF))


def test_events_of_one_millisecond_make_the_same_member_in_whichever_order_they_landed(
    known_db: Settings,
) -> None:
    at = AS_OF - timedelta(hours=1)
    first = Row("tie", 1, "sms", "sms.message_received", at, "changsha", "gotone", "tie-a")
    second = Row("tie", 2, "web", "web.login", at, "loudi", "mzone", "tie-b")
    client = connect(known_db)
    db = known_db.clickhouse_database
    for order in ((first, second), (second, first)):
        client.execute(f"TRUNCATE TABLE {db}.events")
        for row in order:  # one insert, one part, each: the parts are read in either order
            insert(known_db, Known([row], []))
        assert list(members(client, db, Audience(), AS_OF)) == [("tie", 2)]
        seen = preview(client, db, Audience(), AS_OF)
        assert (seen.by_prefecture["loudi"], seen.by_brand["mzone"]) == (1, 1)
    assert expected(Known([first, second], []), Audience(), AS_OF)["tie"].partition == 2


def test_opted_out_subscribers_are_never_in_an_audience(known_db: Settings) -> None:
    known = population(400, AS_OF, seed=5)
    insert(known_db, known)
    everyone = dict(members(connect(known_db), known_db.clickhouse_database, Audience(), AS_OF))
    for subscriber, scope in known.opt_outs:
        if scope == "*":
            assert subscriber not in everyone
    kept = [s for s, scope in known.opt_outs if scope == "0101"]
    assert kept
    assert any(s in everyone for s in kept)  # opted out of one code only: still in


def test_injection_in_a_free_text_value_is_inert(known_db: Settings) -> None:
    insert(known_db, population(50, AS_OF, seed=7))
    client = connect(known_db)
    db = known_db.clickhouse_database
    for sneaky in ("x' OR 1=1 --", "x'; DROP TABLE events; --", "\\' OR ''='"):
        with pytest.raises(UnknownCampaignError):
            find_spec(client, db, sneaky)
    assert list_campaigns(client, db) == []
    ((rows,),) = client.execute("SELECT count() FROM events")
    assert rows > 0
