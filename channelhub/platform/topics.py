"""Each topic's configs on the broker, from its lifecycle in the registry and the settings.

The one place that decides a topic's ``cleanup.policy``, ``retention.ms``,
``min.compaction.lag.ms`` and ``segment.ms``: :func:`channelhub.platform.broker.ensure_topics`
creates every topic with them and brings an existing topic's back to them. Pure, so every
lifecycle is checked without a broker.

Segments: Kafka deletes and compacts only closed segments, and closes one after
``segment.ms`` (seven days unless set) or a GiB. A topic kept for a week in week-long segments
holds records for up to two weeks; in segments of a tenth of its retention, at most a tenth
longer. A compacted topic's segments close after the compaction lag, so a quiet changelog is
compacted too.
"""

from collections.abc import Mapping

from kernel.settings import Settings
from schemas.registry import CONTRACTS, Contract

HOUR_MS = 3_600_000
#: Records a deleting topic keeps beyond its retention, at most: this share of it.
SEGMENT_SHARE = 10


def topic_config(contract: Contract, settings: Settings) -> dict[str, str]:
    """The configs of ``contract``'s topic, as the broker takes them (strings)."""
    if contract.lifecycle == "compact":
        lag = str(_ms(settings.kafka_compaction_lag_hours))
        return {"cleanup.policy": "compact", "min.compaction.lag.ms": lag, "segment.ms": lag}
    if contract.lifecycle == "forever":
        return {"cleanup.policy": "delete", "retention.ms": "-1"}
    hours = (
        settings.kafka_replay_horizon_hours
        if contract.lifecycle == "replay"
        else settings.kafka_retention_hours
    )
    kept = _ms(hours)
    return {
        "cleanup.policy": "delete",
        "retention.ms": str(kept),
        "segment.ms": str(max(kept // SEGMENT_SHARE, 1)),
    }


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Every topic of the registry, by its name in ``settings``, with its configs."""
    return {c.topic(settings): topic_config(c, settings) for c in CONTRACTS}


def drift(wanted: Mapping[str, str], have: Mapping[str, str]) -> dict[str, tuple[str | None, str]]:
    """Each config of ``wanted`` the topic has another value of, or none: name → (have, want).

    Only the wanted configs are compared: whatever else a broker reports (its defaults, an
    operator's own setting of another config) is not ours to judge.
    """
    return {
        name: (have.get(name), value) for name, value in wanted.items() if have.get(name) != value
    }


def _ms(hours: float) -> int:
    return max(round(hours * HOUR_MS), 1)
