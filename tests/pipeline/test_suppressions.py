"""Every guardrail outcome on the real stack, and rule files edited while it runs.

A handful of subscribers, each given the few events that make one guardrail speak, go through
the raw topic, the worker (validation and nudges, with this test's own rule files) and the
sink; a campaign audience chunk is produced to ``campaigns.requests`` twice, and one of a
campaign naming an SMS code retired through the catalogue's process. ClickHouse must
then hold every reason code of :data:`orchestration.guardrails.reasons.Reason`, each on the
subscriber it was staged for. Then one rule file is broken and another added while the worker
runs: the broken rule keeps its last good version, the new one starts firing, nothing stops.
"""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import msgspec
import pytest
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from channelhub.catalogue import store as catalogue_store
from channelhub.catalogue.seed import seed
from channelhub.platform.health import tcp_open
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from orchestration.guardrails.reasons import Reason
from schemas import Event
from schemas.campaigns import CampaignRequest
from schemas.goals import UsesSelfService
from schemas.guardrails import GuardrailSettings
from sinks import migrations
from sinks.client import connect
from tests.catalogue.test_cli import RETIRING
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_for
from tests.orchestration.events import make

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 3, 2, tzinfo=UTC) - timedelta(hours=8)  # Monday 00:00 in Hunan

RULES = {
    # Sent at once; two a day and three a week per subscriber.
    "t_now.toml": """
version = 1
[rule]
id = "t.now"
description = "test: at once"
triggers = ["web.function_used"]
template = "【湖南移动】现在发送。"
[rule.guardrails]
holdout_share = 0.0
[rule.guardrails.caps]
rule_per_day = 2
rule_per_week = 3
all_per_day = 10
all_per_week = 20
[rule.goal]
kind = "no_agent_call"
""",
    # Dropped in quiet hours; across all rules at most three a day and four a week.
    "t_drop.toml": """
version = 1
[rule]
id = "t.drop"
description = "test: drop at night"
triggers = ["wap.function_used"]
template = "【湖南移动】白天发送。"
[rule.guardrails]
holdout_share = 0.0
[rule.guardrails.caps]
rule_per_day = 5
rule_per_week = 10
all_per_day = 3
all_per_week = 4
[rule.guardrails.quiet_hours]
policy = "drop"
[rule.goal]
kind = "no_agent_call"
""",
    # Not while the caller is still in the IVR.
    "t_call.toml": """
version = 1
[rule]
id = "t.call"
description = "test: after the call"
triggers = ["ivr.menu_selected"]
template = "【湖南移动】通话结束后发送。"
[rule.guardrails]
holdout_share = 0.0
allow_in_live_call = false
[rule.goal]
kind = "no_agent_call"
""",
    # Due after ten minutes, worthless after five: always expires.
    "t_late.toml": """
version = 1
[rule]
id = "t.late"
description = "test: expires before it is due"
triggers = ["web.login"]
delay_s = 600
template = "【湖南移动】过期。"
[rule.guardrails]
holdout_share = 0.0
max_age = "PT5M"
[rule.goal]
kind = "no_agent_call"
""",
    # Everyone is in the control group.
    "t_hold.toml": """
version = 1
[rule]
id = "t.hold"
description = "test: holdout"
triggers = ["kiosk.session_started"]
template = "【湖南移动】对照组。"
[rule.guardrails]
holdout_share = 1.0
[rule.goal]
kind = "no_agent_call"
""",
}


def _at(day: int, hhmm: str, ms: int = 0) -> str:
    hours, minutes = map(int, hhmm.split(":"))
    moment = MONDAY + timedelta(days=day, hours=hours, minutes=minutes, milliseconds=ms)
    return moment.isoformat(timespec="milliseconds")


def _event(msisdn: str, event_type: str, when: str, session: str = "s-1", **attrs: Any) -> Event:
    defaults: dict[str, dict[str, Any]] = {
        "web.function_used": {"function": "bill.monthly"},
        "wap.function_used": {"function": "bill.monthly"},
        "web.login": {"method": "password", "success": True},
        "wap.login": {"method": "password", "success": True},
        "kiosk.session_started": {"terminal_id": "K0001"},
        "ivr.call_started": {"lead_in_variant": "standard", "busy_period": False},
        "ivr.menu_selected": {"key_path": "1", "item": "query.realtime_charges"},
        "ivr.call_ended": {"duration_s": 600.0, "outcome": "hangup"},
        "sms.message_received": {"text": "TD", "matched_code": None, "match_kind": "unknown"},
    }
    return make(event_type, {**defaults[event_type], **attrs}, msisdn=msisdn,
                occurred_at=when, session_id=session)  # fmt: skip


# subscriber → (its events, the reasons its nudges must be decided with)
STAGED: dict[str, tuple[list[tuple[str, str]], set[str]]] = {
    "13810000001": ([("sms.message_received", _at(0, "10:00")),
                     ("web.function_used", _at(0, "10:01"))], {"opted_out"}),
    "13810000002": ([("web.function_used", _at(0, "22:00"))], {"quiet_hours"}),
    "13810000003": ([("wap.function_used", _at(0, "22:30"))], {"quiet_hours"}),
    "13810000004": ([("ivr.call_started", _at(0, "10:00")), ("ivr.menu_selected", _at(0, "10:01")),
                     ("ivr.call_ended", _at(0, "10:10"))], {"in_live_call"}),
    "13810000005": ([("web.login", _at(0, "10:00"))], {"not_due", "expired"}),
    "13810000006": ([("web.function_used", _at(0, "11:00")), ("web.function_used", _at(0, "11:05")),
                     ("web.function_used", _at(0, "11:10"))], {"frequency_cap_rule_day"}),
    "13810000007": ([("web.function_used", _at(0, "12:00")), ("web.function_used", _at(0, "12:05")),
                     ("web.function_used", _at(1, "12:00")),
                     ("web.function_used", _at(1, "12:05"))], {"frequency_cap_rule_week"}),
    "13810000008": ([("wap.function_used", _at(0, "13:00")), ("wap.function_used", _at(0, "13:05")),
                     ("wap.function_used", _at(0, "13:10")), ("wap.function_used", _at(0, "13:15")),
                     ("wap.function_used", _at(1, "13:00")),
                     ("wap.function_used", _at(1, "13:05"))],
                    {"frequency_cap_day", "frequency_cap_week"}),
    "13810000009": ([("kiosk.session_started", _at(0, "10:00"))], {"holdout"}),
    "13810000010": ([("web.function_used", _at(0, "14:00")),
                     ("web.function_used", _at(0, "14:00"))], {"rate_limited"}),
}  # fmt: skip


def _partition(msisdn: str, partitions: int) -> int:
    return (murmur2(msisdn.encode()) & 0x7FFFFFFF) % partitions


def _produce(settings: Settings, events: list[Event]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for event in sorted(events, key=lambda e: e.occurred_at):
        key = event.msisdn.encode() if event.msisdn else None  # per-subscriber order, as sources do
        producer.send(settings.topic_raw, msgspec.json.encode(event), key=key)
    producer.flush()
    producer.close()


def _campaign_chunks(settings: Settings) -> list[tuple[int, bytes]]:
    """One audience chunk per partition: every staged subscriber, a budget of one SMS."""
    pseudonymize = Pseudonymizer.from_settings(settings)
    guardrails = msgspec.convert(
        {"holdout_share": 0.0, "quiet_hours": None, "budget": {"max_messages": 1},
         "caps": {"rule_per_day": None, "rule_per_week": None, "all_per_day": None,
                  "all_per_week": None}},
        GuardrailSettings,
    )  # fmt: skip
    by_partition: dict[int, list[str]] = {}
    for msisdn in STAGED:
        by_partition.setdefault(_partition(msisdn, settings.topic_partitions), []).append(
            pseudonymize(msisdn)
        )
    return [
        (p, msgspec.json.encode(CampaignRequest(
            campaign_id="spring", trigger_id="trigger-1", subscribers=tuple(members),
            template="【湖南移动】{prefecture_name}用户专享。", guardrails=guardrails,
            goal=UsesSelfService(function="query.monthly_bill"),
            requested_at=datetime.fromisoformat(_at(1, "15:00")),
        )))
        for p, members in sorted(by_partition.items())
    ]  # fmt: skip


#: Asked for a campaign naming 0102, retired before it is decided.
RETIRED_FOR = "13810000009"


def _retire_0102(settings: Settings) -> None:
    """Seed the catalogue and retire the monthly bill's SMS code through every step."""
    seed(settings)
    request = catalogue_store.request_retire(settings, "query.monthly_bill", ("sms",), by="billing")
    for step, who in RETIRING:
        catalogue_store.take_step(settings, request.event_id, step, by=who)


def _retired_code_chunk(settings: Settings) -> tuple[int, bytes]:
    """A campaign chunk asking, now, to tell :data:`RETIRED_FOR` to send the retired 0102."""
    request = CampaignRequest(
        campaign_id="bills", trigger_id="trigger-2",
        subscribers=(Pseudonymizer.from_settings(settings)(RETIRED_FOR),),
        template="【湖南移动】发送0102到10086查月账单。",
        guardrails=GuardrailSettings(holdout_share=0.0, quiet_hours=None),
        goal=UsesSelfService(function="query.monthly_bill"), requested_at=datetime.now(UTC),
    )  # fmt: skip
    return _partition(RETIRED_FOR, settings.topic_partitions), msgspec.json.encode(request)


def test_every_guardrail_reason_lands_in_clickhouse_and_rules_reload_live(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    tmp_path: Path,
) -> None:  # fmt: skip
    rules = tmp_path / "rules"
    rules.mkdir()
    for name, text in RULES.items():
        (rules / name).write_text(text, encoding="utf-8")
    settings = settings.model_copy(
        update={"rules_dir": rules, "rules_reload_seconds": 0.5, "nudge_rate_per_second": 4.0}
    )
    migrations.migrate(settings)
    _retire_0102(settings)
    start_service("worker", "streams", settings,
                  health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120)  # fmt: skip
    start_service("sink", "sinks", settings)
    client = connect(settings)

    staged = [_event(m, t, when) for m, (events, _) in STAGED.items() for t, when in events]
    ticks = [_event(f"1392000{i:04d}", "wap.login", _at(1, "14:00")) for i in range(100)]
    _produce(settings, staged + ticks)

    def count(where: str) -> int:
        ((n,),) = client.execute(f"SELECT count() FROM nudge_decisions WHERE {where}")
        return int(n)

    # The audience is known once the staged events are folded: the week cap is the last.
    wait_for(lambda: count("reason = 'frequency_cap_week'") > 0, "the staged events", timeout=120)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    chunks = _campaign_chunks(settings)
    for partition, chunk in chunks:
        producer.send(settings.topic_campaign_requests, chunk, partition=partition)
    producer.flush()
    wait_for(
        lambda: count("rule_id = 'campaign:spring'") >= len(STAGED), "the campaign", timeout=60
    )
    for partition, chunk in chunks:  # the fan-out delivering its chunks again
        producer.send(settings.topic_campaign_requests, chunk, partition=partition)
    producer.flush()
    partition, chunk = _retired_code_chunk(settings)
    producer.send(settings.topic_campaign_requests, chunk, partition=partition)
    producer.flush()
    # Every member but the opted-out one was remembered as decided: refused as a duplicate.
    wait_for(lambda: count("reason = 'duplicate'") >= len(STAGED) - 1, "the redelivery", timeout=60)

    def reasons() -> dict[str, set[str]]:
        rows = client.execute(
            "SELECT d.subscriber, d.reason FROM nudge_decisions AS d WHERE reason != ''"
        )
        found: dict[str, set[str]] = {}
        for subscriber, reason in rows:
            found.setdefault(subscriber, set()).add(reason)
        return found

    everything = set(get_args(Reason))
    missing = set(everything)

    def all_in() -> bool:
        missing.intersection_update(everything - set().union(*reasons().values()))
        return not missing

    try:
        wait_for(all_in, "every reason in ClickHouse", timeout=120)
    except pytest.fail.Exception:
        pytest.fail(f"reasons never in ClickHouse: {sorted(missing)}")
    pseudonymize = Pseudonymizer.from_settings(settings)
    found = reasons()
    for msisdn, (_, expected) in STAGED.items():
        assert expected <= found[pseudonymize(msisdn)], msisdn
    assert "retired_service" in found[pseudonymize(RETIRED_FOR)]
    approved = client.execute(
        "SELECT nudge_id, count() FROM nudge_decisions WHERE outcome = 'approved' "
        "GROUP BY nudge_id HAVING count() > 1"
    )
    assert approved == []
    ((campaign_sent,),) = client.execute(
        "SELECT count() FROM nudge_decisions WHERE rule_id = 'campaign:spring' "
        "AND outcome = 'approved'"
    )
    # One per partition, each partition's share of the budget, where anyone can be sent it.
    reachable = {
        _partition(m, settings.topic_partitions)
        for m, (_, expected) in STAGED.items()
        if "opted_out" not in expected
    }
    assert campaign_sent == len(reachable)

    # While it runs: break one rule file, add another.
    (rules / "t_hold.toml").write_text(
        RULES["t_hold.toml"].replace("holdout_share = 1.0", 'holdout_share = "all"'), "utf-8"
    )
    (rules / "t_new.toml").write_text(
        RULES["t_hold.toml"].replace('id = "t.hold"', 'id = "t.new"')
        .replace("kiosk.session_started", "web.login").replace("holdout_share = 1.0",
                                                              "holdout_share = 0.0"),
        "utf-8",
    )  # fmt: skip
    time.sleep(3)  # a few reload periods
    _produce(settings, [
        _event("13810000011", "kiosk.session_started", _at(1, "16:00")),
        _event("13810000012", "web.login", _at(1, "16:00")),
    ])  # fmt: skip

    def outcome_of(msisdn: str, rule: str) -> list[str]:
        rows = client.execute(
            "SELECT outcome FROM nudge_decisions WHERE subscriber = %(s)s AND rule_id = %(r)s",
            {"s": pseudonymize(msisdn), "r": rule},
        )
        return [o for (o,) in rows]

    wait_for(lambda: bool(outcome_of("13810000012", "t.new")), "the added rule to fire", timeout=60)
    assert outcome_of("13810000011", "t.hold") == ["holdout"]  # the last good version
    assert outcome_of("13810000012", "t.new") == ["approved"]
