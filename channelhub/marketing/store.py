"""The campaign lifecycle: create and trigger are events on ``campaigns.events``; reading is
ClickHouse.

Creating or triggering a campaign produces an event and waits for the broker's
acknowledgement; nothing else changes. The fan-out stage acts on the events, and the sink
projects them into ``campaigns`` and ``campaign_triggers``, which :func:`list_campaigns` reads
together with what the guardrails decided for each campaign. These functions know nothing of
a command line or a web page: the CLI and the dashboard both call them.

A campaign id is created once. Its spec never changes afterwards, so every trigger and every
decision of ``campaign:<id>`` refer to the same audience, text and budget; a new version of a
campaign is a new id.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import msgspec
from clickhouse_driver import Client

from channelhub.catalogue import store as catalogue_store
from channelhub.ingest.producer import Producer
from kernel.errors import ConfigError
from kernel.settings import Settings
from orchestration.campaigns.errors import UnknownCampaignError
from orchestration.campaigns.loader import check_spec
from orchestration.content import Content
from orchestration.content.gate import campaign_version
from schemas import campaigns as campaign_events
from schemas.campaign_spec import CampaignSpec
from schemas.campaigns import CampaignCreated, CampaignEvent, CampaignTriggered, campaign_rule_id
from sinks.client import connect, database_name, storage_errors
from sinks.tables.campaign_events import UNSCHEDULED
from streams.content import PublishedContent

#: How far in the past a trigger's time may be: the time it takes to type the command.
PAST_TOLERANCE = timedelta(minutes=1)

_SPEC = """
SELECT spec FROM {db}.campaigns WHERE campaign_id = %(campaign_id)s
ORDER BY created_at LIMIT 1
"""

_CAMPAIGNS = """
SELECT campaign_id, description, created_at, created_by, schedule_at
FROM {db}.campaigns
ORDER BY created_at, campaign_id
"""

_TRIGGERS = """
SELECT campaign_id, trigger_id, scheduled_at, triggered_at, triggered_by
FROM {db}.campaign_triggers
ORDER BY triggered_at, trigger_id
"""

_DECISIONS = """
SELECT rule_id, outcome, uniqExact(decision_id)
FROM {db}.nudge_decisions
WHERE rule_id IN %(rule_ids)s
GROUP BY rule_id, outcome
"""


class TriggerSummary(msgspec.Struct, frozen=True, kw_only=True):
    trigger_id: str
    scheduled_at: datetime
    triggered_at: datetime
    triggered_by: str


class CampaignSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One campaign as the list shows it. ``decisions`` counts guardrail decisions of the
    campaign's nudges by outcome; a held nudge is decided again later, so one nudge can count
    under ``held`` and then under ``approved``."""

    campaign_id: str
    description: str
    created_at: datetime
    created_by: str
    scheduled_at: datetime | None
    triggers: tuple[TriggerSummary, ...]
    decisions: dict[str, int]


def create(settings: Settings, spec: CampaignSpec, *, by: str) -> CampaignCreated:
    """Check ``spec`` (its template published, once publishing is in force), refuse an id
    already created or a template that names a retired SMS code, and produce its
    ``CampaignCreated`` with the template's version."""
    check_spec(spec, f"campaign {spec.id}")
    _refuse_retired_codes(settings, spec)
    version = campaign_version(spec.id, spec.template, _published(settings))
    with _client(settings) as (client, db):
        if _find_spec(client, db, spec.id) is not None:
            raise ConfigError(
                f"campaign {spec.id!r} already exists and a campaign never changes; give the "
                "new version a new id"
            )
    event = campaign_events.created(spec, at=datetime.now(UTC), by=by, template_version=version)
    _produce(settings, event)
    return event


def _published(settings: Settings) -> Content:
    """``channel.content`` folded to its end."""
    published = PublishedContent(settings)
    try:
        published.poll()
    finally:
        published.close()
    return published.content


def trigger(
    settings: Settings,
    campaign_id: str,
    at: datetime | None = None,
    *,
    by: str,
) -> CampaignTriggered:
    """Produce a ``CampaignTriggered`` for ``at``, else the campaign's schedule, else now.

    A time in the past is refused: the audience would be selected as of a moment already
    gone and its messages would be asked late. So is a campaign whose template names an SMS
    code retired since it was created.
    """
    if at is not None and at.tzinfo is None:
        raise ConfigError(f"trigger time {at.isoformat()} needs a UTC offset, e.g. +08:00")
    now = datetime.now(UTC)
    with _client(settings) as (client, db):
        spec = find_spec(client, db, campaign_id)
    _refuse_retired_codes(settings, spec)
    scheduled = at or spec.schedule.at or now
    if scheduled < now - PAST_TOLERANCE:
        where = "the trigger time" if at else f"campaign {campaign_id!r}'s schedule.at"
        raise ConfigError(
            f"{where} {scheduled.isoformat()} is in the past; give a later trigger time"
        )
    event = campaign_events.triggered(campaign_id, scheduled_at=scheduled, at=now, by=by)
    _produce(settings, event)
    return event


def _refuse_retired_codes(settings: Settings, spec: CampaignSpec) -> None:
    """No campaign may tell people to send a code the SMS hall no longer answers (the live
    service catalogue, :mod:`channelhub.catalogue`)."""
    named = catalogue_store.read_topic(settings).catalogue.retired_codes_in(spec.template)
    if named:
        raise ConfigError(
            f"campaign {spec.id!r}'s template tells people to send {', '.join(named)}, retired "
            "from the SMS hall; name an open code or the web and WAP halls instead"
        )


def find_spec(client: Client, db: str, campaign_id: str) -> CampaignSpec:
    """The spec ``campaign_id`` was created with; raises :class:`UnknownCampaignError`."""
    spec = _find_spec(client, db, campaign_id)
    if spec is None:
        raise UnknownCampaignError(campaign_id)
    return spec


def list_campaigns(client: Client, db: str) -> list[CampaignSummary]:
    """Every campaign, oldest first, with its triggers and its decisions by outcome."""
    with storage_errors("cannot list the campaigns"):
        campaigns = client.execute(_CAMPAIGNS.format(db=db))
        triggers = client.execute(_TRIGGERS.format(db=db))
        rule_ids = tuple(campaign_rule_id(c[0]) for c in campaigns)
        counts = (
            client.execute(_DECISIONS.format(db=db), {"rule_ids": rule_ids}) if rule_ids else []
        )
    by_campaign: dict[str, list[TriggerSummary]] = {}
    for campaign_id, trigger_id, scheduled_at, triggered_at, triggered_by in triggers:
        by_campaign.setdefault(campaign_id, []).append(
            TriggerSummary(
                trigger_id=trigger_id,
                scheduled_at=_utc(scheduled_at),
                triggered_at=_utc(triggered_at),
                triggered_by=triggered_by,
            )
        )
    decisions: dict[str, dict[str, int]] = {}
    for rule_id, outcome, n in counts:
        decisions.setdefault(rule_id, {})[outcome] = n
    summaries: dict[str, CampaignSummary] = {}
    for campaign_id, description, created_at, created_by, schedule_at in campaigns:
        scheduled = _utc(schedule_at)
        summaries.setdefault(
            campaign_id,  # created once: a duplicate create that raced in is not the campaign
            CampaignSummary(
                campaign_id=campaign_id,
                description=description,
                created_at=_utc(created_at),
                created_by=created_by,
                scheduled_at=None if scheduled == UNSCHEDULED else scheduled,
                triggers=tuple(by_campaign.get(campaign_id, ())),
                decisions=decisions.get(campaign_rule_id(campaign_id), {}),
            ),
        )
    return list(summaries.values())


def _find_spec(client: Client, db: str, campaign_id: str) -> CampaignSpec | None:
    with storage_errors(f"cannot look up campaign {campaign_id!r}"):
        rows = client.execute(_SPEC.format(db=db), {"campaign_id": campaign_id})
    return msgspec.json.decode(rows[0][0], type=CampaignSpec) if rows else None


@contextmanager
def _client(settings: Settings) -> Iterator[tuple[Client, str]]:
    """A client on the settings' database for one call, disconnected afterwards."""
    client = connect(settings)
    try:
        yield client, database_name(settings)
    finally:
        client.disconnect()


def _produce(settings: Settings, event: CampaignEvent) -> None:
    """Send one lifecycle event keyed by its campaign and wait for the acknowledgement."""
    with Producer(
        settings.kafka_bootstrap, settings.topic_campaigns, client_id="channelhub-campaigns"
    ) as producer:
        producer.send(event.campaign_id.encode(), campaign_events.encode(event))


def _utc(value: datetime) -> datetime:
    """The driver returns DateTime('UTC') values naive or in UTC depending on its settings."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
