"""A campaign inside the fault suite's run, and who it must ask, computed from the events
produced rather than from anything the pipeline wrote.

The campaign reaches everyone who used the IVR in the last day, with quiet hours around the
moment it runs, so every member's request is held (or refused, for an opt-out): a hold
consumes no cap, token or budget, and the rule decisions of the same run stay exactly those
of the oracle whatever order the nudge stage reads the two topics in.
"""

from datetime import UTC, datetime, timedelta

from clickhouse_driver import Client

from channelhub.marketing import store
from channelhub.simulator.engine import Emitted
from kernel.pseudonym import Pseudonymizer
from kernel.settings import Settings
from orchestration.campaigns import Audience, CampaignSpec, ChannelUse
from orchestration.guardrails import parse_opt_out
from orchestration.guardrails.clock import LOCAL_TZ
from schemas import Rejection, validate
from schemas.campaigns import campaign_rule_id
from schemas.events import SmsMessageReceived, event_type_of
from schemas.goals import UsesSelfService
from schemas.guardrails import Budget, QuietHours
from tests.campaigns.data import Known, Row, expected
from tests.fixtures.waiting import wait_for

#: What a member's request may become while the quiet hours last.
WHILE_QUIET = {("held", "quiet_hours"), ("suppressed", "opted_out")}


def spec(now: datetime) -> CampaignSpec:
    """IVR callers of the last day, asked in quiet hours from three hours before ``now``
    to three after (local time), so nothing is sent while the test runs."""
    local = now.astimezone(LOCAL_TZ)
    quiet = QuietHours(
        start=(local - timedelta(hours=3)).time().replace(microsecond=0),
        end=(local + timedelta(hours=3)).time().replace(microsecond=0),
    )
    return CampaignSpec(
        id="ivr-callers-faults",
        description="IVR callers of the last day, asked during the fault suite",
        audience=Audience(used=(ChannelUse(channels=("ivr",), within_days=1),)),
        template="【湖南移动】{brand_name}客户发送0102到10086查月账单 回复TD退订",
        goal=UsesSelfService(function="query.monthly_bill"),
        budget=Budget(max_messages=1_000_000),
        quiet_hours=quiet,
    )


def create(settings: Settings, campaign: CampaignSpec, client: Client) -> None:
    """Create the campaign and wait until the sink has written it (``trigger`` reads it)."""
    store.create(settings, campaign, by="faults")
    wait_for(
        lambda: any(
            c.campaign_id == campaign.id
            for c in store.list_campaigns(client, settings.clickhouse_database)
        ),
        "the sink to write the campaign",
        timeout=120,
    )


def members(emitted: list[Emitted], settings: Settings, campaign: CampaignSpec,
            as_of: datetime) -> set[str]:  # fmt: skip
    """The pseudonyms the campaign must ask, straight from the events produced."""
    pseudonym = Pseudonymizer.from_settings(settings)
    rows: list[Row] = []
    opt_outs: list[tuple[str, str]] = []
    for e in emitted:
        event = validate(e.payload)
        assert not isinstance(event, Rejection), event
        subscriber = pseudonym(event.msisdn) if event.msisdn else ""
        at = event.occurred_at.astimezone(UTC)
        rows.append(Row(subscriber, 0, event.channel, event_type_of(event), at,
                        event.prefecture, event.brand or "", event.event_id))  # fmt: skip
        if isinstance(event, SmsMessageReceived) and subscriber:
            opt_out = parse_opt_out(event.attributes.text)
            if opt_out is not None:
                opt_outs.append((subscriber, opt_out.scope))
    return set(expected(Known(rows, opt_outs), campaign.audience, as_of))


def decided(client: Client, campaign: CampaignSpec) -> list[tuple[str, str, str]]:
    """Every decision row of the campaign: subscriber, outcome, reason."""
    rows = client.execute(
        "SELECT subscriber, outcome, reason FROM nudge_decisions WHERE rule_id = %(rule)s",
        {"rule": campaign_rule_id(campaign.id)},
    )
    return [(str(s), str(o), str(r)) for s, o, r in rows]
