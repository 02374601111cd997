"""Every topic of the platform and the contract its records meet: the one list to extend.

A :class:`Contract` names the topic (by its settings field, so a deployment can rename it), the
record type its producers encode and its consumers decode (a msgspec Struct, or a union of
tagged ones), what its key is, the cleanup policy it should have, and the table the sink
projects it into (``None`` for a topic no table is made of). From this list follow the topics
the platform creates (:func:`channelhub.platform.broker.topic_names`), the sink's routes
(:func:`sinks.routes.routes`), and, through the table each one names, the CREATE statements,
the migrations and the round-trip test of ``tests/sinks/test_registry.py``.

A topic's way from producer to table: the producer encodes a record of the contract's type
with ``msgspec.json``; the sink decodes the bytes into that same type (a record that does not
decode is a dead letter, ``unreadable_record``), and the table named here turns the decoded
record into its row.

Cleanup policies are what each topic should have on a real Kafka: ``compact`` for the nudge
changelog, whose newest record per key is the state, ``delete`` (the broker's retention) for
every other topic, whose records are events. :func:`channelhub.platform.broker.ensure_topics`
creates every topic with the broker's default today: the local broker (Tansu 0.6.0, memory
storage) accepts topic configs at creation but does not keep them (DescribeConfigs returns none)
and loses every topic at a restart anyway. A real cluster's changelog must be created compacted
by its operators, with ``min.compaction.lag.ms`` above a batch's duration (see
:mod:`streams.state_store`).
"""

from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from kernel.settings import Settings
from schemas.alerts import AlertEvent, RuleChange
from schemas.campaigns import CampaignEvent, CampaignRequest
from schemas.dead_letter import DeadLetter
from schemas.events import Event
from schemas.nudges import (
    Conversion,
    DecidedNudge,
    DeliveryReceipt,
    Dispatch,
    NudgeRequest,
    OptOutRecorded,
)

CleanupPolicy = Literal["delete", "compact"]


@dataclass(frozen=True)
class Contract:
    """What one topic carries and where it goes."""

    #: The :class:`kernel.settings.Settings` field that holds the topic's name.
    setting: str
    #: The type every record decodes into: a Struct, or a union of tagged Structs.
    record: Any
    #: What the key is, for readers of the topic: it decides which records share a partition.
    key: str
    cleanup: CleanupPolicy
    #: The sink table made of the topic, by name (:mod:`sinks.routes` has the objects).
    table: str | None

    def topic(self, settings: Settings) -> str:
        """The topic's name in ``settings``."""
        name: str = getattr(settings, self.setting)
        return name


CONTRACTS: tuple[Contract, ...] = (
    Contract(
        "topic_raw", Event, "the subscriber's MSISDN, or the kiosk's terminal id", "delete", None
    ),
    Contract(
        "topic_events", Event, "the subscriber's MSISDN, or the kiosk's terminal id", "delete",
        "events",
    ),
    Contract("topic_dlq", DeadLetter, "the rejected message's own key", "delete", "dead_letters"),
    Contract(
        "topic_nudges_requested", NudgeRequest, "the subscriber's MSISDN", "delete",
        "nudge_requests",
    ),
    Contract(
        "topic_nudges_decisions", DecidedNudge, "the subscriber's MSISDN", "delete",
        "nudge_decisions",
    ),
    Contract("topic_nudges_outbound", DecidedNudge, "the subscriber's MSISDN", "delete", None),
    # The changelog's records (streams.state_store.ChangeRecord) carry the stage's whole
    # guardrail state and still live with the stage; here they are only bytes.
    Contract(
        "topic_nudges_state", msgspec.Raw,
        "the subscriber's MSISDN, or a checkpoint or probe marker; the partition is the events "
        "partition the state belongs to", "compact", None,
    ),
    Contract(
        "topic_nudges_dispatches", Dispatch, "the subscriber's MSISDN", "delete",
        "nudge_dispatches",
    ),
    Contract(
        "topic_nudges_receipts", DeliveryReceipt, "the gateway's message id", "delete",
        "nudge_receipts",
    ),
    Contract(
        "topic_nudges_conversions", Conversion, "the subscriber's MSISDN", "delete",
        "nudge_conversions",
    ),
    Contract(
        "topic_nudges_optouts", OptOutRecorded, "the subscriber's MSISDN", "delete", "opt_outs"
    ),
    Contract(
        "topic_campaign_requests", CampaignRequest,
        "the campaign id; the partition is the events partition of the audience chunk",
        "delete", None,
    ),
    Contract("topic_campaigns", CampaignEvent, "the campaign id", "delete", "campaign_events"),
    Contract("topic_alerts", AlertEvent, "the alert rule's id", "delete", "alert_events"),
    Contract(
        "topic_alert_rules", RuleChange, "the alert rule's id", "delete", "alert_rule_changes"
    ),
)  # fmt: skip
