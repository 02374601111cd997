"""A campaign's audience as one parameterised ClickHouse query over ``{db}.events``.

Every filter value reaches the server only as a clickhouse-driver ``%(name)s`` parameter; the
SQL text is built from constant fragments whose parameter names come from the filter's
position, and the only identifier spliced in is the database, checked as a plain name. Values
are also checked against their vocabularies first (:func:`check`), so a typo is an error that
lists the allowed values instead of an audience that is silently empty.

The query groups each subscriber's events before ``as_of`` (to the second) and keeps the
latest one's partition, prefecture and brand: events are keyed by MSISDN, so the partition
is where the nudge stage that knows this subscriber runs. Events of one millisecond are told
apart by their ids, so the same rows always give the same members and partitions (a redone
fan-out must cut the same chunks), on every engine. "Within N days" means from
``as_of`` minus N days up to ``as_of``, so the same audience and as-of time select the same
subscribers however late the query runs. Agent contacts count distinct event ids, which keeps
the count exact before ReplacingMergeTree has merged a duplicate away. Subscribers who opted
out of everything (``opt_outs`` with scope ``*``, at any time) are never selected.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kernel.errors import ConfigError
from orchestration.campaigns.errors import AudienceError
from orchestration.guardrails.state import ALL
from schemas.campaign_spec import Audience, ChannelUse
from schemas.envelope import BRANDS, CHANNELS, PREFECTURES

#: The event an agent contact is.
AGENT_CONTACT = "agent.request_handled"

_DATABASE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

_MEMBERS = """
SELECT subscriber, last_partition, last_prefecture, last_brand
FROM (
    SELECT
        subscriber,
        argMax(kafka_partition, newest) AS last_partition,
        argMax(prefecture, newest) AS last_prefecture,
        argMax(brand, newest) AS last_brand{aggregates}
    FROM (
        SELECT subscriber, kafka_partition, prefecture, brand, channel, event_type, event_id,
               occurred_at,
               (toUInt64(occurred_at) * 1000 + occurred_ms, event_id) AS newest
        FROM {db}.events
        WHERE subscriber != ''
          AND occurred_at < toDateTime(%(as_of)s)
          AND subscriber NOT IN (
              SELECT subscriber FROM {db}.opt_outs WHERE scope = %(opted_out_of)s
          )
    )
    GROUP BY subscriber
)
WHERE {conditions}
"""

_PREVIEW = """
SELECT last_prefecture, last_brand, count()
FROM ({members})
GROUP BY last_prefecture, last_brand
"""


@dataclass(frozen=True)
class AudiencePreview:
    """How many subscribers an audience selects at ``as_of``, in total and by segment.

    ``by_prefecture`` and ``by_brand`` list every value of their vocabulary, zeros included,
    so a chart of them never changes shape.
    """

    as_of: datetime
    size: int
    by_prefecture: dict[str, int]
    by_brand: dict[str, int]


def check(audience: Audience) -> None:
    """Every filter value is in its vocabulary; raises :class:`AudienceError` naming it."""
    _check_values("prefectures", audience.prefectures, PREFECTURES, "prefecture")
    _check_values("brands", audience.brands, BRANDS, "brand")
    for name, uses in (("used", audience.used), ("not_used", audience.not_used)):
        for i, use in enumerate(uses):
            _check_values(f"{name}[{i}].channels", use.channels, CHANNELS, "channel")


def _check_values(field: str, values: tuple[str, ...], allowed: tuple[str, ...], what: str) -> None:
    for i, value in enumerate(values):
        if value not in allowed:
            raise AudienceError(
                f"{field}[{i}]", f"{value!r} is not a {what}; one of: {', '.join(allowed)}"
            )


def members_query(db: str, audience: Audience, as_of: datetime) -> tuple[str, dict[str, Any]]:
    """The members SQL (rows: pseudonym, partition, prefecture, brand) and its parameters."""
    check(audience)
    if not _DATABASE.match(db):
        raise ConfigError(f"database {db!r} is not a plain identifier (letters, digits, _)")
    if as_of.tzinfo is None:
        raise ConfigError(f"as-of time {as_of.isoformat()} needs a UTC offset")
    q = _Query(as_of)
    if audience.prefectures:
        q.conditions.append(f"last_prefecture IN {q.param('prefectures', audience.prefectures)}")
    if audience.brands:
        q.conditions.append(f"last_brand IN {q.param('brands', audience.brands)}")
    for i, use in enumerate(audience.used):
        q.conditions.append(f"{q.channel_use(f'used_{i}', use)} > 0")
    for i, use in enumerate(audience.not_used):
        q.conditions.append(f"{q.channel_use(f'not_used_{i}', use)} = 0")
    contacts = audience.agent_contacts
    if contacts is not None:
        agent = q.param("agent_event", AGENT_CONTACT)
        window = q.since("agent_since", contacts.within_days)
        counted = f"uniqExactIf(event_id, event_type = {agent} AND {window})"
        n = q.aggregate("agent_contacts", counted)
        if contacts.min is not None:
            q.conditions.append(f"{n} >= {q.param('agent_min', contacts.min)}")
        if contacts.max is not None:
            q.conditions.append(f"{n} <= {q.param('agent_max', contacts.max)}")
    sql = _MEMBERS.format(
        db=db,
        aggregates="".join(f",\n        {a}" for a in q.aggregates),
        conditions="\n  AND ".join(q.conditions) or "1",
    )
    return sql, q.params


class _Query:
    """The parts of one members query: values go to ``params``, the SQL gets placeholders."""

    def __init__(self, as_of: datetime) -> None:
        self.as_of = as_of
        self.params: dict[str, Any] = {"as_of": _seconds(as_of), "opted_out_of": ALL}
        self.aggregates: list[str] = []
        self.conditions: list[str] = []

    def param(self, name: str, value: object) -> str:
        self.params[name] = value
        return f"%({name})s"

    def since(self, name: str, days: int) -> str:
        start = self.param(name, _seconds(self.as_of - timedelta(days=days)))
        return f"occurred_at >= toDateTime({start})"

    def aggregate(self, alias: str, expression: str) -> str:
        """Compute ``expression`` per subscriber as ``alias``; conditions refer to the alias."""
        self.aggregates.append(f"{expression} AS {alias}")
        return alias

    def channel_use(self, name: str, use: ChannelUse) -> str:
        """The per-subscriber count of events on ``use.channels`` within its days."""
        channels = self.param(f"{name}_channels", use.channels)
        window = self.since(f"{name}_since", use.within_days)
        return self.aggregate(name, f"countIf(channel IN {channels} AND {window})")


def _seconds(at: datetime) -> int:
    """Unix seconds: the same instant whatever the server's or the column's time zone."""
    return int(at.timestamp())


def preview_query(db: str, audience: Audience, as_of: datetime) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters of the audience's size at ``as_of`` by prefecture and brand:
    rows of (prefecture, brand, members)."""
    members, params = members_query(db, audience, as_of)
    return _PREVIEW.format(members=members), params


def members_in_order(db: str, audience: Audience, as_of: datetime) -> tuple[str, dict[str, Any]]:
    """:func:`members_query` in partition then pseudonym order, so a redone fan-out cuts the
    same chunks."""
    sql, params = members_query(db, audience, as_of)
    return f"{sql}ORDER BY last_partition, subscriber", params


def summarize(as_of: datetime, rows: list[tuple[str, str, int]]) -> AudiencePreview:
    """The preview of the rows of :func:`preview_query`: every prefecture and brand, zeros
    included."""
    by_prefecture = dict.fromkeys(PREFECTURES, 0)
    by_brand = dict.fromkeys(BRANDS, 0)
    for prefecture, brand, n in rows:
        by_prefecture[prefecture] = by_prefecture.get(prefecture, 0) + n
        by_brand[brand] = by_brand.get(brand, 0) + n
    return AudiencePreview(
        as_of=as_of, size=sum(n for _, _, n in rows), by_prefecture=by_prefecture,
        by_brand=by_brand,
    )  # fmt: skip
