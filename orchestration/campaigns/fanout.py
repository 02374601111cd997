"""From a triggered campaign and its members to the requests the nudge stage decides.

Pure: the fan-out stage (:mod:`streams.campaigns`) selects the members in ClickHouse and
produces what :func:`plan` returns. Members are grouped by the ``channel.events`` partition
they live on and cut into chunks of at most :data:`CHUNK_SIZE` pseudonyms, each produced to
that partition of ``campaigns.requests``.

Budgets are spent where subscribers live: each partition's nudge stage counts what it
approved for a campaign against its own share, without asking any other, and keeps counting
across the campaign's triggers. So the budget is split evenly over all ``topic_partitions``
partitions, in whole messages and whole fen, the first partitions taking the remainder: the
shares add up to exactly the campaign's budget, and they are the same for every trigger and
every redo, whatever the audience, so the campaign can never spend more than its budget in
total. Subscribers are spread over partitions by a hash of their MSISDN, so any audience
worth a campaign fills them alike; a partition without members leaves its share unspent.
Every chunk of a partition carries that partition's whole share.
"""

from collections.abc import Iterable

import msgspec

from kernel.errors import ConfigError
from schemas.campaign_spec import CampaignSpec
from schemas.campaigns import CampaignRequest, CampaignTriggered
from schemas.guardrails import Budget

#: Most pseudonyms in one request: ~180 kB of JSON, well inside a broker's message limit.
CHUNK_SIZE = 5000


def shares(total: int | None, parts: int) -> list[int | None]:
    """``total`` in ``parts`` whole shares that sum to it, the first ones taking the remainder.

    ``None`` (no limit) stays ``None`` for every part.
    """
    if total is None:
        return [None] * parts
    base, remainder = divmod(total, parts)
    return [base + (1 if i < remainder else 0) for i in range(parts)]


def partition_budgets(budget: Budget, partitions: int) -> list[Budget]:
    """Each partition's share of ``budget``."""
    messages = shares(budget.max_messages, partitions)
    fen = shares(budget.max_fen, partitions)
    return [
        msgspec.structs.replace(budget, max_messages=m, max_fen=f)
        for m, f in zip(messages, fen, strict=True)
    ]


def plan(
    spec: CampaignSpec,
    trigger: CampaignTriggered,
    members: Iterable[tuple[str, int]],
    partitions: int,
    *,
    chunk_size: int = CHUNK_SIZE,
    template_version: int | None = None,
) -> list[tuple[int, CampaignRequest]]:
    """(partition, request) for every chunk of ``members`` ((pseudonym, partition) pairs).

    Raises :class:`ConfigError` for a member on a partition the topics do not have: the
    settings' partition count differs from the one ``channel.events`` was written with.
    """
    by_partition: list[list[str]] = [[] for _ in range(partitions)]
    for pseudonym, partition in members:
        if not 0 <= partition < partitions:
            raise ConfigError(
                f"a member of campaign {spec.id!r} lives on channel.events partition "
                f"{partition}, but topic_partitions is {partitions}; set it to the partition "
                "count of channel.events"
            )
        by_partition[partition].append(pseudonym)
    budgets = partition_budgets(spec.budget, partitions)
    requests = []
    for partition, pseudonyms in enumerate(by_partition):
        guardrails = spec.guardrails(budgets[partition])
        for start in range(0, len(pseudonyms), chunk_size):
            request = CampaignRequest(
                campaign_id=spec.id,
                trigger_id=trigger.trigger_id,
                subscribers=tuple(pseudonyms[start : start + chunk_size]),
                template=spec.template,
                guardrails=guardrails,
                goal=spec.goal,
                requested_at=trigger.scheduled_at,
                template_version=template_version,
            )
            requests.append((partition, request))
    return requests
