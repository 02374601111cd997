"""A campaign triggered before its SMS code is retired and sent after it sends nothing, through
every real stage.

Marketing creates and triggers a campaign that tells people to send 0102 (the monthly bill),
scheduled a little ahead; before that time the SMS hall's 0102 is retired through the CLI's
whole retirement process. When the fan-out hands the audience to the nudge stage, every
member's request must be refused as ``retired_service`` (recorded in ``nudge_decisions``,
and counted so by the campaigns page's funnel) and not one SMS of the campaign may reach
``nudges.outbound``.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from channelhub.catalogue.seed import seed
from dashboards.queries.marketing import funnel
from kernel import kafka
from kernel.settings import Settings
from schemas.nudges import DecidedNudge
from tests.catalogue.test_cli import RETIRING, _ok, _request_id
from tests.fixtures.services import StartService, Topics
from tests.fixtures.waiting import end_offsets, wait_for, wait_until_settled
from tests.pipeline.test_campaign_nudges import _run, campaign_created

pytestmark = pytest.mark.integration

RULE_ID = "campaign:ivr-callers"
#: How far ahead the campaign is scheduled: time enough for the retirement's six commands.
AHEAD = timedelta(seconds=120)


def _outbound(settings: Settings) -> list[DecidedNudge]:
    """Every record ``nudges.outbound`` holds, read to its end."""
    topic = settings.topic_nudges_outbound
    ends = end_offsets(settings.kafka_bootstrap, [topic])
    reader = kafka.reader(settings.kafka_bootstrap, "test-outbound")
    try:
        reader.assign(list(ends))
        reader.seek_to_beginning(*ends)
        found: list[DecidedNudge] = []

        def read_to_end() -> bool:
            for records in reader.poll(timeout_ms=500).values():
                found.extend(msgspec.json.decode(r.value, type=DecidedNudge) for r in records)
            return all(reader.position(tp) >= end for tp, end in ends.items())

        wait_for(read_to_end, f"{topic} read to its end")
    finally:
        reader.close()
    return found


def test_a_campaign_sent_after_its_code_was_retired_sends_nothing(
    settings: Settings, topics: Topics, clickhouse_db: str, start_service: StartService,
    tmp_path: Path,
) -> None:  # fmt: skip
    seed(settings)  # the catalogue the retirement changes
    client = campaign_created(settings, start_service, tmp_path)
    scheduled = datetime.now(UTC) + AHEAD
    _run(settings, "channelhub.cli", "campaign", "trigger", "ivr-callers", "--at",
         scheduled.isoformat())  # fmt: skip

    retiring = _request_id(
        _ok(settings, "request-retire", "query.monthly_bill", "--channel", "sms", "--by",
            "billing")
    )  # fmt: skip
    for step, who in RETIRING:
        _ok(settings, "step", retiring, step, "--by", who)
    assert datetime.now(UTC) < scheduled, "the retirement took longer than the test allows"

    def decided() -> int:
        ((n,),) = client.execute(
            "SELECT uniqExact(nudge_id) FROM nudge_decisions WHERE rule_id = %(rule)s",
            {"rule": RULE_ID},
        )
        return int(n)

    wait_for(lambda: decided() > 0, "the campaign's first decisions", timeout=AHEAD.seconds + 120)
    wait_until_settled(settings, ("campaigns", "validate", "nudges", "sink"))
    ((requested,),) = client.execute(
        "SELECT uniqExact(nudge_id) FROM nudge_requests WHERE rule_id = %(rule)s",
        {"rule": RULE_ID},
    )
    audience = json.loads(_run(
        settings, "channelhub.cli", "campaign", "preview", "ivr-callers", "--json"
    ))["size"]  # fmt: skip
    assert requested == audience > 100
    wait_for(lambda: decided() >= requested, f"{requested} campaign decisions")
    outcomes = client.execute(
        "SELECT outcome, reason, uniqExact(nudge_id) FROM nudge_decisions "
        "WHERE rule_id = %(rule)s GROUP BY outcome, reason",
        {"rule": RULE_ID},
    )
    assert outcomes == [("suppressed", "retired_service", audience)]
    shown = funnel(client, RULE_ID, scheduled - timedelta(hours=1), scheduled + timedelta(hours=1))
    assert (shown.suppressed, shown.approved, shown.holdout) == (
        {"retired_service": audience},
        0,
        0,
    )
    sent = [d for d in _outbound(settings) if d.request.rule_id == RULE_ID]
    assert sent == []
