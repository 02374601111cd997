"""Every topic of the platform and the contract its records meet: the one list to extend.

A :class:`Contract` names the topic (by its settings field, so a deployment can rename it), the
record type its producers encode and its consumers decode (a msgspec Struct, or a union of
tagged ones), what its key is, how long its records are kept, and the table the sink
projects it into (``None`` for a topic no table is made of). From this list follow the topics
the platform creates (:func:`channelhub.platform.broker.topic_names`), the sink's routes
(:func:`sinks.routes.routes`), and, through the table each one names, the CREATE statements,
the migrations and the round-trip test of ``tests/sinks/test_registry.py``.

A topic's way from producer to table: the producer encodes a record of the contract's type
with ``msgspec.json``; the sink decodes the bytes into that same type (a record that does not
decode is a dead letter, ``unreadable_record``), and the table named here turns the decoded
record into its row.

Each topic's lifecycle is stated here, and :mod:`channelhub.platform.topics` turns it, with the
settings, into the configs every topic is created with (``cleanup.policy``, ``retention.ms``,
``min.compaction.lag.ms``, ``segment.ms``):

- ``compact``: the newest record per key, kept as long as the topic exists. The nudge
  changelog, whose newest record per key is the state, and the alert rules, whose newest
  change per rule is the rule's value (a change carries all of the rule's values, or its reset).
- ``replay``: every record for ``kafka_replay_horizon_hours``. The raw and canonical events,
  and the dead letters: what ``channelhub rebuild`` replays and ``channelhub dlq redrive``
  reads back.
- ``retain``: every record for ``kafka_retention_hours``: every other topic of events.
- ``forever``: every record, never deleted. The campaign lifecycle, which the fan-out reads
  from its start to know each campaign's spec. It is not compacted: a campaign's events share
  its id as their key, so compaction would keep its last trigger and drop the spec. The
  service catalogue, for the same reason and one more: the live catalogue is the fold of
  every record from the first (seeded entries, requests, each step), and the records are the
  audit trail of who asked for and approved each change. Its records all share one key, so
  they sit on one partition in one order and every reader (the CLI, a stage, a rebuild from
  ClickHouse) decides the same way which of two competing changes came first (two requests
  for one IVR key). Compaction would keep one record of the whole catalogue. The catalogue
  changes a few times a week: one partition and no deletion cost nothing. Published content
  likewise: which version of a text is published is the fold of every record, and the records
  are each text's audit trail.
"""

from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from kernel.settings import Settings
from schemas.alerts import AlertEvent, RuleChange
from schemas.calls import CallSummarised
from schemas.campaigns import CampaignEvent, CampaignRequest
from schemas.catalogue import CatalogueEvent
from schemas.contacts import ContactCounted
from schemas.content import ContentEvent
from schemas.dead_letter import DeadLetter
from schemas.dialogues import DialogueSummarised
from schemas.events import Event
from schemas.nudges import (
    Conversion,
    DecidedNudge,
    DeliveryReceipt,
    Dispatch,
    NudgeRequest,
    OptOutRecorded,
)

#: How long a topic keeps its records (see the module docstring).
Lifecycle = Literal["compact", "replay", "retain", "forever"]


@dataclass(frozen=True)
class Contract:
    """What one topic carries and where it goes."""

    #: The :class:`kernel.settings.Settings` field that holds the topic's name.
    setting: str
    #: The type every record decodes into: a Struct, or a union of tagged Structs.
    record: Any
    #: What the key is, for readers of the topic: it decides which records share a partition.
    key: str
    lifecycle: Lifecycle
    #: The sink table made of the topic, by name (:mod:`sinks.routes` has the objects).
    table: str | None

    def topic(self, settings: Settings) -> str:
        """The topic's name in ``settings``."""
        name: str = getattr(settings, self.setting)
        return name


CONTRACTS: tuple[Contract, ...] = (
    Contract(
        "topic_raw", Event, "the subscriber's MSISDN, or the kiosk's terminal id", "replay", None
    ),
    Contract(
        "topic_events", Event, "the subscriber's MSISDN, or the kiosk's terminal id", "replay",
        "events",
    ),
    Contract("topic_dlq", DeadLetter, "the rejected message's own key", "replay", "dead_letters"),
    Contract(
        "topic_nudges_requested", NudgeRequest, "the subscriber's MSISDN", "retain",
        "nudge_requests",
    ),
    Contract(
        "topic_nudges_decisions", DecidedNudge, "the subscriber's MSISDN", "retain",
        "nudge_decisions",
    ),
    Contract("topic_nudges_outbound", DecidedNudge, "the subscriber's MSISDN", "retain", None),
    # The changelog's records (streams.state_store.ChangeRecord) carry the stage's whole
    # guardrail state and still live with the stage; here they are only bytes.
    Contract(
        "topic_nudges_state", msgspec.Raw,
        "the subscriber's MSISDN, or a checkpoint or probe marker; the partition is the events "
        "partition the state belongs to", "compact", None,
    ),
    Contract(
        "topic_nudges_dispatches", Dispatch, "the subscriber's MSISDN", "retain",
        "nudge_dispatches",
    ),
    Contract(
        "topic_nudges_receipts", DeliveryReceipt, "the gateway's message id", "retain",
        "nudge_receipts",
    ),
    Contract(
        "topic_nudges_conversions", Conversion, "the subscriber's MSISDN", "retain",
        "nudge_conversions",
    ),
    Contract(
        "topic_nudges_optouts", OptOutRecorded, "the subscriber's MSISDN", "retain", "opt_outs"
    ),
    Contract("topic_contacts", ContactCounted, "the subscriber's MSISDN", "retain", "contacts"),
    Contract("topic_calls", CallSummarised, "the subscriber's MSISDN", "retain", "ivr_calls"),
    Contract(
        "topic_dialogues", DialogueSummarised, "the subscriber's MSISDN", "retain", "sms_dialogues"
    ),
    Contract(
        "topic_campaign_requests", CampaignRequest,
        "the campaign id; the partition is the events partition of the audience chunk",
        "retain", None,
    ),
    Contract("topic_campaigns", CampaignEvent, "the campaign id", "forever", "campaign_events"),
    Contract("topic_alerts", AlertEvent, "the alert rule's id", "retain", "alert_events"),
    Contract(
        "topic_alert_rules", RuleChange, "the alert rule's id", "compact", "alert_rule_changes"
    ),
    Contract(
        "topic_catalogue", CatalogueEvent, "the constant 'catalogue': one partition, one order",
        "forever", "catalogue_events",
    ),
    Contract(
        "topic_content", ContentEvent, "the constant 'content': one partition, one order",
        "forever", "content_events",
    ),
)  # fmt: skip
