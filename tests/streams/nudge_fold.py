"""Fold a simulated day through the nudge core the way the worker's partitions see it.

Used by the unit tests and by the integration test's independent recomputation: events are
split by the Kafka default partitioner over their key (the MSISDN, as the simulator, the
validator and the worker all key them), kept in order per partition, and each partition is
folded on its own state with the partition's share of the gateway rate.
"""

from collections.abc import Iterable, Iterator

from kafka.partitioner.default import murmur2

from channelhub.simulator.engine import Engine, Scenario
from orchestration.rules import load_shipped_rules
from schemas import Event, Rejection, routing_key, validate
from schemas.nudges import DecidedNudge
from streams.nudge_core import NudgeCore, Outputs, PartitionNudges
from streams.nudges import partition_policy
from tests.fixtures.services import local_settings


def partition_of(event: Event, partitions: int) -> int:
    """Where the Kafka default partitioner puts the event's key (murmur2, positive)."""
    return (murmur2(routing_key(event)) & 0x7FFFFFFF) % partitions


def simulated(events: int, seed: int, start_ms: int) -> list[Event]:
    """The simulator's valid events, decoded as the worker decodes them."""
    decoded = []
    for _, emitted in zip(range(events), Engine(Scenario(seed=seed, start_ms=start_ms)),
                          strict=False):  # fmt: skip
        event = validate(emitted.payload)
        assert not isinstance(event, Rejection)
        decoded.append(event)
    return decoded


def by_partition(events: Iterable[Event], partitions: int) -> dict[int, list[Event]]:
    split: dict[int, list[Event]] = {p: [] for p in range(partitions)}
    for event in events:
        split[partition_of(event, partitions)].append(event)
    return split


def core(partitions: int = 4, rate: float = 50.0) -> NudgeCore:
    settings = local_settings(topic_partitions=partitions, nudge_rate_per_second=rate)
    return NudgeCore(rules=tuple(load_shipped_rules()), policy=partition_policy(settings))


def batches(events: list[Event], size: int, first_offset: int = 0) -> Iterator[
    list[tuple[int, Event]]
]:  # fmt: skip
    numbered = list(enumerate(events, first_offset))
    for i in range(0, len(numbered), size):
        yield numbered[i : i + size]


def fold(events: list[Event], partitions: int = 4, batch: int = 500, rate: float = 50.0) -> tuple[
    list[DecidedNudge], dict[int, PartitionNudges]
]:  # fmt: skip
    """Every decision, partition by partition, and the final partition states."""
    nudge_core = core(partitions, rate)
    decided: list[DecidedNudge] = []
    states: dict[int, PartitionNudges] = {}
    for p, part_events in by_partition(events, partitions).items():
        states[p] = PartitionNudges()
        for chunk in batches(part_events, batch):
            out: Outputs = nudge_core.process(states[p], chunk)
            decided += out.decided
    return decided, states
