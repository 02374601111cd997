"""Each topic's configs follow from its lifecycle in the registry and the settings."""

from channelhub.platform.topics import HOUR_MS, drift, topic_configs
from schemas.registry import CONTRACTS
from tests.fixtures.services import local_settings


def test_every_topic_of_the_registry_gets_the_cleanup_policy_of_its_lifecycle() -> None:
    settings = local_settings()
    configs = topic_configs(settings)
    assert list(configs) == [c.topic(settings) for c in CONTRACTS]
    for contract in CONTRACTS:
        policy = configs[contract.topic(settings)]["cleanup.policy"]
        assert policy == ("compact" if contract.lifecycle == "compact" else "delete")


def test_the_events_and_dead_letters_are_kept_for_the_replay_horizon() -> None:
    settings = local_settings(kafka_replay_horizon_hours=30 * 24, kafka_retention_hours=48)
    configs = topic_configs(settings)
    month = str(30 * 24 * HOUR_MS)
    for topic in (settings.topic_raw, settings.topic_events, settings.topic_dlq):
        assert configs[topic] == {
            "cleanup.policy": "delete",
            "retention.ms": month,
            "segment.ms": str(3 * 24 * HOUR_MS),
        }
    assert configs[settings.topic_nudges_requested] == {
        "cleanup.policy": "delete",
        "retention.ms": str(48 * HOUR_MS),
        "segment.ms": str(48 * HOUR_MS // 10),
    }


def test_the_defaults_keep_events_two_weeks_and_other_topics_one() -> None:
    configs = topic_configs(local_settings())
    assert configs["channel.events"]["retention.ms"] == "1209600000"
    assert configs["nudges.receipts"]["retention.ms"] == "604800000"


def test_the_changelog_and_the_alert_rules_are_compacted_after_the_lag() -> None:
    settings = local_settings(kafka_compaction_lag_hours=2)
    configs = topic_configs(settings)
    for topic in (settings.topic_nudges_state, settings.topic_alert_rules):
        assert configs[topic] == {
            "cleanup.policy": "compact",
            "min.compaction.lag.ms": str(2 * HOUR_MS),
            "segment.ms": str(2 * HOUR_MS),
        }


def test_the_default_compaction_lag_is_far_above_a_batch() -> None:
    settings = local_settings()
    lag_ms = int(topic_configs(settings)[settings.topic_nudges_state]["min.compaction.lag.ms"])
    assert lag_ms >= 1000 * 3600 * settings.worker_batch_seconds


def test_the_campaign_lifecycle_is_never_deleted() -> None:
    settings = local_settings()
    assert topic_configs(settings)[settings.topic_campaigns] == {
        "cleanup.policy": "delete",
        "retention.ms": "-1",
    }


def test_a_tiny_retention_still_makes_valid_configs() -> None:
    settings = local_settings(kafka_retention_hours=1e-9, kafka_compaction_lag_hours=1e-9)
    configs = topic_configs(settings)
    assert configs[settings.topic_alerts]["retention.ms"] == "1"
    assert configs[settings.topic_alerts]["segment.ms"] == "1"
    assert configs[settings.topic_nudges_state]["min.compaction.lag.ms"] == "1"


def test_drift_names_each_wanted_config_missing_or_different() -> None:
    wanted = {"cleanup.policy": "compact", "retention.ms": "1000", "segment.ms": "10"}
    have = {"cleanup.policy": "delete", "segment.ms": "10", "max.message.bytes": "1048588"}
    assert drift(wanted, have) == {
        "cleanup.policy": ("delete", "compact"),
        "retention.ms": (None, "1000"),
    }
    assert drift(wanted, {**have, **wanted}) == {}
