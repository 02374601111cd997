"""A service's use around a change to it: for a service opened or retired at some moment, what
each channel did of it and how many agent contacts were on its topic, week by week before and
after.

Weeks are counted from the minute of the change: week 0 is the seven days that start there,
week -1 the seven before. What a channel did of a service is what ``self_service_per_minute``
(:mod:`sinks.tables.channel_rollups`) counts under the service's names on that channel
(:func:`names_of`): an IVR self-service completion of its item, an SMS-hall service run, a use
of one of its web or WAP hall functions, a kiosk service; agent contacts are requests an agent
handled on its topic. The table counts what the sink inserted, which holds no duplicates, so
the figures are those of ``events FINAL``; weeks not yet over count what happened so far.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from clickhouse_driver import Client

from schemas.catalogue import Entry, KioskService, WapFunction, WebFunction, channel_of

WEEK = timedelta(days=7)
#: How many weeks each side of a change the analysts' pages show.
WEEKS = 4
#: The agents' channel in ``self_service_per_minute``: requests handled, by topic.
AGENT = "agent"

#: Per week from the change and channel, the uses of the service's names on that channel
#: (``{names}``: one ``channel = … AND name IN …`` per channel, joined by ``OR``).
AROUND = """
SELECT intDiv(toUInt32(minute) - %(first)s, %(week)s) AS week, channel, sum(done) AS n
FROM self_service_per_minute
WHERE minute >= toDateTime(%(first)s) AND minute < toDateTime(%(last)s) AND ({names})
GROUP BY week, channel
"""


@dataclass(frozen=True)
class Week:
    """One week around a change: ``week`` 0 starts at the change, negative weeks are before."""

    week: int
    start: datetime
    #: Uses per self-service channel (every channel the service has a name on, zero if none).
    by_channel: dict[str, int] = field(default_factory=dict)
    agent_contacts: int = 0

    @property
    def self_service(self) -> int:
        return sum(self.by_channel.values())


def names_of(service: str, entries: Iterable[Entry]) -> dict[str, frozenset[str]]:
    """Channel → the names ``self_service_per_minute`` counts ``service``'s use under: the
    service itself for an IVR item (its own item), an SMS code (the service it runs) and agent
    topics; the function for a hall or kiosk entry."""
    names: dict[str, set[str]] = {AGENT: {service}}
    for entry in entries:
        if isinstance(entry, WebFunction | WapFunction | KioskService):
            name = entry.function
        else:
            name = service
        names.setdefault(channel_of(entry), set()).add(name)
    return {channel: frozenset(found) for channel, found in names.items()}


def around(
    client: Client,
    changed_at: datetime,
    names: Mapping[str, frozenset[str]],
    weeks: int = WEEKS,
) -> list[Week]:
    """The ``weeks`` weeks before and after ``changed_at`` (``2 * weeks`` rows, oldest first)
    of the service named ``names`` per channel (:func:`names_of`)."""
    origin = int(changed_at.timestamp()) // 60 * 60
    span = int(WEEK.total_seconds())
    first = origin - weeks * span
    params: dict[str, object] = {"first": first, "last": origin + weeks * span, "week": span}
    where = []
    for i, (channel, found) in enumerate(sorted(names.items())):
        params[f"channel_{i}"], params[f"names_{i}"] = channel, tuple(sorted(found))
        where.append(f"channel = %(channel_{i})s AND name IN %(names_{i})s")
    counted: dict[tuple[int, str], int] = {}
    if where:
        query = AROUND.format(names=" OR ".join(f"({w})" for w in where))
        for week, channel, n in client.execute(query, params):
            counted[int(week), channel] = int(n)
    channels = sorted(c for c in names if c != AGENT)
    return [
        Week(
            week=k - weeks,
            start=datetime.fromtimestamp(first + k * span, UTC),
            by_channel={c: counted.get((k, c), 0) for c in channels},
            agent_contacts=counted.get((k, AGENT), 0),
        )
        for k in range(2 * weeks)
    ]
