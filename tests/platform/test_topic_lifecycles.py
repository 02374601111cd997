"""Topic lifecycles on the real local broker: every topic reads back with the configs of its
lifecycle, and an existing topic with others is brought to them.

What is read back is what Tansu 0.6.0 keeps: the configs a topic was given, as given, each
labelled ``DEFAULT_CONFIG`` (kafka-python's default filter, the modified configs only, hides
them all), and none of the broker's own. It does not act on them: records stay past
``retention.ms`` and compaction never runs (README, "Topic lifecycles").
"""

import logging
from collections.abc import Collection, Iterable, Mapping

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from channelhub.platform import broker as tansu
from channelhub.platform.topics import topic_configs
from kernel.settings import Settings
from tests.fixtures.services import Topics

pytestmark = pytest.mark.integration


def _read_back(bootstrap: str, names: Iterable[str]) -> dict[str, dict[str, dict[str, object]]]:
    """Every config of each topic as DescribeConfigs answers it, whatever its source.

    All of them: Tansu drops the connection of a request that names the configs it wants.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        found: dict[str, dict[str, dict[str, object]]] = admin.describe_configs(
            resources, config_filter="all"
        )["topic"]
        return found
    finally:
        admin.close()


def _values(
    described: dict[str, dict[str, dict[str, object]]], keys: Mapping[str, Collection[str]]
) -> dict[str, dict[str, object]]:
    """The values of ``keys`` (topic → config names) among ``described``."""
    return {
        name: {k: c["value"] for k, c in described[name].items() if k in wanted}
        for name, wanted in keys.items()
    }


def test_every_topic_reads_back_with_the_configs_of_its_lifecycle(
    settings: Settings, topics: Topics
) -> None:
    wanted = topic_configs(settings)
    assert set(topics.names) < set(wanted) == set(tansu.topic_names(settings))
    assert _values(_read_back(settings.kafka_bootstrap, wanted), wanted) == wanted


def test_tansu_reports_exactly_the_configs_a_topic_was_given(
    settings: Settings, topics: Topics
) -> None:
    changelog = settings.topic_nudges_state
    described = _read_back(settings.kafka_bootstrap, [changelog])[changelog]
    assert {k: c["value"] for k, c in described.items()} == topic_configs(settings)[changelog]
    assert {c["config_source"] for c in described.values()} == {"DEFAULT_CONFIG"}


def test_an_existing_topic_is_brought_to_its_lifecycle_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    raw, bootstrap = settings.topic_raw, settings.kafka_bootstrap
    stale = {raw: {"cleanup.policy": "compact", "retention.ms": "1000"}}
    assert tansu.ensure_topics(bootstrap, [raw], 4, stale) == [raw]
    wanted = topic_configs(settings)

    with caplog.at_level(logging.WARNING, logger=tansu.__name__):
        assert tansu.ensure_topics(bootstrap, [raw], 4, wanted) == []
    mine = {raw: wanted[raw]}
    assert _values(_read_back(bootstrap, mine), mine) == mine
    (warning,) = _broker_warnings(caplog)
    assert raw in warning
    assert "cleanup.policy compact -> delete" in warning
    assert f"retention.ms 1000 -> {wanted[raw]['retention.ms']}" in warning
    assert f"segment.ms unset -> {wanted[raw]['segment.ms']}" in warning

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=tansu.__name__):
        assert tansu.ensure_topics(bootstrap, [raw], 4, wanted) == []
    assert _broker_warnings(caplog) == []


def _broker_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the topic code logged (a loaded machine also gets kafka-python's warnings of a
    slow poll)."""
    return [r.getMessage() for r in caplog.records if r.name == tansu.__name__]


def test_a_topic_without_configs_is_left_to_the_broker(settings: Settings) -> None:
    raw, bootstrap = settings.topic_raw, settings.kafka_bootstrap
    assert tansu.ensure_topics(bootstrap, [raw], 4) == [raw]
    assert tansu.ensure_topics(bootstrap, [raw], 4) == []
    assert _read_back(bootstrap, [raw]) == {raw: {}}
