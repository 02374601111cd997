"""A campaign audience read from ClickHouse: its preview and its members.

The SQL and its parameters come from the pure core (:mod:`orchestration.campaigns.audience`,
every filter value a parameter); this module runs them.
"""

from collections.abc import Iterator
from datetime import datetime

from clickhouse_driver import Client

from orchestration.campaigns.audience import (
    AudiencePreview,
    members_in_order,
    preview_query,
    summarize,
)
from schemas.campaign_spec import Audience
from sinks.client import storage_errors


def preview(client: Client, db: str, audience: Audience, as_of: datetime) -> AudiencePreview:
    """The audience's size at ``as_of``, by prefecture and by brand."""
    sql, params = preview_query(db, audience, as_of)
    with storage_errors("cannot preview the audience"):
        rows = client.execute(sql, params)
    return summarize(as_of, rows)


def members(
    client: Client, db: str, audience: Audience, as_of: datetime
) -> Iterator[tuple[str, int]]:
    """(pseudonym, ``channel.events`` partition) of every member at ``as_of``, streamed in
    partition then pseudonym order, so a redone fan-out cuts the same chunks."""
    sql, params = members_in_order(db, audience, as_of)
    with storage_errors("cannot select the audience"):
        rows = client.execute_iter(sql, params, settings={"max_block_size": 10_000})
        for subscriber, partition, _, _ in rows:
            yield subscriber, partition
