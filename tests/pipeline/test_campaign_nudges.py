"""A campaign from file to guardrail decisions, through every real stage.

Simulated traffic of the last hours goes through the raw topic, the worker (validation and
nudges) and the sink. Marketing then creates a campaign and triggers it with the CLI; the
fan-out stage selects the audience in ClickHouse and hands it to the nudge stage, which must
ask for exactly one SMS per audience member and decide each under the campaign's guardrails.
"""

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from clickhouse_driver import Client

from channelhub.platform.env import settings_env
from channelhub.platform.health import tcp_open
from kernel.settings import Settings
from orchestration.guardrails.clock import LOCAL_TZ
from sinks import migrations
from sinks.client import connect
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import wait_for, wait_until_settled

pytestmark = pytest.mark.integration

CAMPAIGN = """\
version = 1

[campaign]
id = "ivr-callers"
description = "Everyone who called the IVR today: the SMS hall's bill codes"
template = "【湖南移动】{brand_name}客户发送0102到10086查月账单 回复TD退订"
holdout_share = 0.2

[campaign.audience]
[[campaign.audience.used]]
channels = ["ivr"]
within_days = 1

[campaign.budget]
max_messages = 100000

[campaign.goal]
kind = "uses_self_service"
function = "query.monthly_bill"
"""


def away_from_now() -> str:
    """Quiet hours (which a campaign cannot switch off) for one hour half a day from now in
    Shanghai, so what the first decisions are does not depend on when the test runs."""
    start = (datetime.now(LOCAL_TZ) + timedelta(hours=12)).replace(minute=0, second=0)
    end = start + timedelta(hours=1)
    return f"\n[campaign.quiet_hours]\nstart = {start:%H:%M:%S}\nend = {end:%H:%M:%S}\n"


#: What a member's request may become right away: sent, held out, waiting for the gateway
#: (rate limit), or waiting until the member leaves the IVR call the simulated traffic left
#: them in (a campaign never interrupts a live call). Quiet hours are set away from the time
#: the test runs.
IMMEDIATE = {
    ("approved", ""),
    ("holdout", "holdout"),
    ("held", "rate_limited"),
    ("held", "in_live_call"),
}


def campaign_created(settings: Settings, start_service: StartService, tmp_path: Path) -> Client:
    """Every stage a campaign passes running, 4,000 simulated events in ClickHouse and the
    campaign :data:`CAMPAIGN` created; a client of the test's database."""
    migrations.migrate(settings)
    start_service("worker", "streams", settings,
                  health=tcp_open("127.0.0.1", settings.worker_web_port), timeout=120)  # fmt: skip
    fan_out = tcp_open("127.0.0.1", settings.campaigns_web_port)
    start_service("campaigns", "streams", settings, "--stage", "campaigns", health=fan_out,
                  timeout=120)  # fmt: skip
    start_service("sink", "sinks", settings)
    # No --start: the simulator ends its traffic before now, however thin the hour it
    # simulates (at night in Hunan 4,000 events from three hours ago ran into the future).
    _run(settings, "channelhub.simulator", "--events", "4000", "--seed", "3")
    client = connect(settings)

    def events_in() -> bool:
        ((n,),) = client.execute("SELECT count() FROM events")
        return int(n) == 4000

    wait_for(events_in, "the simulated events in ClickHouse")
    file = tmp_path / "ivr-callers.toml"
    file.write_text(CAMPAIGN + away_from_now(), encoding="utf-8")
    _run(settings, "channelhub.cli", "campaign", "create", str(file), "--by", "mia")
    wait_for(lambda: "ivr-callers" in _run(settings, "channelhub.cli", "campaign", "list"),
             "the campaign in ClickHouse")  # fmt: skip
    return client


def _run(settings: Settings, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", *args], env={**os.environ, **settings_env(settings)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_triggered_campaign_asks_once_per_audience_member(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    tmp_path: Path,
) -> None:  # fmt: skip
    client = campaign_created(settings, start_service, tmp_path)
    _run(settings, "channelhub.cli", "campaign", "trigger", "ivr-callers", "--at", "now")
    audience = json.loads(_run(
        settings, "channelhub.cli", "campaign", "preview", "ivr-callers", "--json"
    ))["size"]  # fmt: skip
    assert audience > 100

    def requested() -> int:
        ((n,),) = client.execute(
            "SELECT uniqExact(nudge_id) FROM nudge_requests WHERE rule_id = 'campaign:ivr-callers'"
        )
        return int(n)

    wait_for(lambda: requested() >= audience, f"{audience} campaign requests")
    wait_until_settled(settings, ("campaigns", "validate", "nudges", "sink"))
    assert requested() == audience
    ((members,),) = client.execute(
        "SELECT uniqExact(subscriber) FROM nudge_requests WHERE rule_id = 'campaign:ivr-callers'"
    )
    assert members == audience  # one SMS per member

    def decided() -> int:
        ((n,),) = client.execute(
            "SELECT uniqExact(nudge_id) FROM nudge_decisions WHERE rule_id = 'campaign:ivr-callers'"
        )
        return int(n)

    # decisions reach ClickHouse in their own sink batches, maybe after the requests
    wait_for(lambda: decided() >= audience, f"{audience} campaign decisions")
    first = client.execute(
        "SELECT outcome, reason, count() FROM nudge_decisions "
        "WHERE rule_id = 'campaign:ivr-callers' GROUP BY outcome, reason"
    )
    outcomes = {(o, r): n for o, r, n in first}
    assert set(outcomes) <= IMMEDIATE | {("suppressed", r) for r in (
        "opted_out", "frequency_cap_day", "frequency_cap_week",
        "frequency_cap_rule_day", "frequency_cap_rule_week")}, outcomes  # fmt: skip
    holdout = outcomes.get(("holdout", "holdout"), 0)
    assert 0.1 < holdout / audience < 0.3, outcomes  # holdout_share 0.2
