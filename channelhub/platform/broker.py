"""The local Kafka-protocol broker (Tansu): start spec, health probe, topic creation.

Tansu keeps everything in memory: a restart loses every topic and committed offset, so topics
are (re)created by :func:`ensure_topics` each time the stack starts, each with the configs of
its lifecycle (:mod:`channelhub.platform.topics`). Run as a module
(``python -m channelhub.platform.broker``) it creates the topics of the current settings, which
is how the compose deployment prepares a real Kafka.
"""

import logging
from collections.abc import Collection, Mapping

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError, TopicAlreadyExistsError

from channelhub.platform import prereqs
from channelhub.platform.health import split_host_port, tcp_open
from channelhub.platform.process import ServiceSpec
from channelhub.platform.topics import drift, topic_configs
from kernel import kafka
from kernel.errors import ServiceError
from kernel.settings import Settings
from schemas.registry import CONTRACTS

log = logging.getLogger(__name__)
_ALREADY_EXISTS = TopicAlreadyExistsError.errno


def _admin(bootstrap: str, timeout_ms: int = 5000) -> KafkaAdminClient:
    return kafka.admin(bootstrap, "channelhub-platform", timeout_ms)


def probe(bootstrap: str) -> None:
    """Healthy when the port accepts connections and the broker answers a metadata request."""
    host, port = split_host_port(bootstrap)
    tcp_open(host, port)()
    admin = _admin(bootstrap, timeout_ms=2000)
    try:
        admin.list_topics()
    finally:
        admin.close()


def spec(bootstrap: str) -> ServiceSpec:
    """Tansu listening (and advertising) exactly ``bootstrap``, memory storage."""
    url = f"tcp://{bootstrap}"
    return ServiceSpec(
        name="broker",
        argv=[
            str(prereqs.tansu()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        health=lambda: probe(bootstrap),
        endpoint=bootstrap,
        startup_timeout=30.0,
        infrastructure=True,
    )


def ensure_topics(
    bootstrap: str,
    names: list[str],
    partitions: int,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet, each with its configs; return the ones created.

    ``configs`` holds topics' configs by name (the platform's are
    :func:`channelhub.platform.topics.topic_configs`); a topic it does not name gets the
    broker's defaults and is never altered.

    Idempotent: a topic that already exists is fine, whatever its partition count (a
    different count is logged, never changed, because repartitioning moves keys). Its configs
    that differ from ``configs`` are set to them, each change logged as a warning: the settings
    say how long a topic keeps its records, and a topic created before them, or changed by
    hand, would otherwise keep another lifecycle unnoticed. Any other broker error raises
    ServiceError.
    """
    wanted = {name: dict((configs or {}).get(name, {})) for name in names}
    admin = _admin(bootstrap)
    try:
        response = admin.create_topics(
            {
                name: {
                    "num_partitions": partitions,
                    "replication_factor": 1,
                    "configs": wanted[name],
                }
                for name in names
            },
            raise_errors=False,
        )
        created, failed = [], []
        for topic in response["topics"]:
            code = topic["error_code"]
            if code == 0:
                created.append(topic["name"])
            elif code != _ALREADY_EXISTS:
                failed.append(f"{topic['name']}: {topic['error_message'] or code}")
        if failed:
            raise ServiceError(f"could not create topics on {bootstrap}: {'; '.join(failed)}")
        if created:
            admin.wait_for_topics(created)
        existing = sorted(set(names) - set(created))
        _warn_on_partition_mismatch(admin, existing, partitions)
        _align_configs(admin, {name: wanted[name] for name in existing if wanted[name]})
        return created
    except KafkaError as e:
        raise ServiceError(f"could not create topics on {bootstrap}: {e}") from e
    finally:
        admin.close()


def _warn_on_partition_mismatch(admin: KafkaAdminClient, names: list[str], wanted: int) -> None:
    if not names:
        return
    for topic in admin.describe_topics(names):
        have = len(topic.get("partitions") or [])
        if have != wanted:
            name = topic.get("topic") or topic.get("name")
            log.warning("topic %s has %d partitions, settings ask for %d", name, have, wanted)


def _described(
    admin: KafkaAdminClient, keys: Mapping[str, Collection[str]]
) -> dict[str, dict[str, str]]:
    """The configs named in ``keys`` (topic → config names) as the broker reports them; one it
    does not report is missing (Tansu reports only those a topic was given).

    Every config of the topics is asked for and the others dropped here: Tansu 0.6.0 cannot
    read a DescribeConfigs request that names its keys and drops the connection. Every source
    is kept, not kafka-python's default of the modified ones only: Tansu labels the configs a
    topic was created with as defaults, and a broker's own default is a value too.
    """
    response = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in keys], config_filter="all"
    )
    found = response.get("topic", {})
    return {
        name: {
            key: config["value"]
            for key, config in found.get(name, {}).items()
            if key in wanted and config["value"] is not None
        }
        for name, wanted in keys.items()
    }


def _align_configs(admin: KafkaAdminClient, wanted: Mapping[str, Mapping[str, str]]) -> None:
    if not wanted:
        return
    have = _described(admin, wanted)
    changes = {name: d for name, configs in wanted.items() if (d := drift(configs, have[name]))}
    if not changes:
        return
    for name, changed in changes.items():
        log.warning(
            "topic %s: setting %s (the settings' lifecycle)",
            name,
            ", ".join(f"{key} {old or 'unset'} -> {new}" for key, (old, new) in changed.items()),
        )
    # Incremental: only these keys change; the legacy request (which Tansu does not take)
    # would reset every other config of the topic.
    result = admin.alter_configs(
        [
            ConfigResource(
                ConfigResourceType.TOPIC, name, configs={k: new for k, (_, new) in changed.items()}
            )
            for name, changed in changes.items()
        ],
        raise_on_unknown=False,
        incremental=True,
    )
    refused = {name: r for name, r in result.get("topic", {}).items() if r != "OK"}
    if refused:
        raise ServiceError(f"could not set topic configs: {refused}")


def topic_names(settings: Settings) -> list[str]:
    """Every topic the platform uses, as the contract registry lists them, all with
    ``settings.topic_partitions`` partitions: the nudge changelog must match ``topic_events``
    partition for partition. Each is created with the configs of its lifecycle
    (:func:`channelhub.platform.topics.topic_configs`)."""
    return [c.topic(settings) for c in CONTRACTS]


def main() -> None:
    """Create the topics of the settings in the environment (used by the compose init job)."""
    from kernel import startup

    settings = startup.start("topics")
    created = ensure_topics(
        settings.kafka_bootstrap,
        topic_names(settings),
        settings.topic_partitions,
        topic_configs(settings),
    )
    log.info("topics ready on %s (created: %s)", settings.kafka_bootstrap, created or "none")


if __name__ == "__main__":
    main()
