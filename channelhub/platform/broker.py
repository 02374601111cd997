"""The local Kafka-protocol broker (Tansu): start spec, health probe, topic creation.

Tansu keeps everything in memory: a restart loses every topic and committed offset, so topics
are (re)created by :func:`ensure_topics` each time the stack starts. Run as a module
(``python -m channelhub.platform.broker``) it creates the topics of the current settings, which
is how the compose deployment prepares a real Kafka.
"""

import logging

from kafka import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError

from channelhub.platform import prereqs
from channelhub.platform.health import split_host_port, tcp_open
from channelhub.platform.process import ServiceSpec
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


def ensure_topics(bootstrap: str, names: list[str], partitions: int) -> list[str]:
    """Create the topics that do not exist yet; return the ones created.

    Idempotent: a topic that already exists is fine, whatever its partition count (a
    different count is logged, never changed, because repartitioning moves keys). Any other
    broker error raises ServiceError.
    """
    admin = _admin(bootstrap)
    try:
        response = admin.create_topics(
            {name: {"num_partitions": partitions, "replication_factor": 1} for name in names},
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
        _warn_on_partition_mismatch(admin, sorted(set(names) - set(created)), partitions)
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


def topic_names(settings: Settings) -> list[str]:
    """Every topic the platform uses, as the contract registry lists them, all with
    ``settings.topic_partitions`` partitions: the nudge changelog must match ``topic_events``
    partition for partition. Each is created with the broker's default cleanup policy; the
    policy a topic should have is in its contract (:mod:`schemas.registry`)."""
    return [c.topic(settings) for c in CONTRACTS]


def main() -> None:
    """Create the topics of the settings in the environment (used by the compose init job)."""
    from kernel import startup

    settings = startup.start("topics")
    created = ensure_topics(
        settings.kafka_bootstrap, topic_names(settings), settings.topic_partitions
    )
    log.info("topics ready on %s (created: %s)", settings.kafka_bootstrap, created or "none")


if __name__ == "__main__":
    main()
