"""Across the channels: the contact mix over time, how much of each self-service function the
channels take from the agents, and re-contact within 24 h as a first-contact-resolution measure.

A *contact* is a session (a call, an SMS dialogue, a web visit, a kiosk session) of a
subscriber; kiosk faults, which have no subscriber, are not contacts. Agents work inside the
IVR call they answer, so an agent's handling shares the call's session id: the mix counts it as
an agent contact of its own, re-contact treats it as part of the call.

The nudge stage counts each contact as it begins, and each session re-contacted within 24 h as
the next one begins (:mod:`orchestration.contacts`); the mix and re-contact sum those counts
per minute of the contact's first event (``contacts_per_minute``,
:mod:`sinks.tables.contacts`), so both read a few thousand rows for any range, whatever the
day's volume. The deflection counts events, from the per-minute ``self_service_per_minute``
(:mod:`sinks.tables.channel_rollups`), each under the item its name stands for in the live
service catalogue (:mod:`dashboards.service_names`). All three take whole-minute ranges and
count what the sink inserted, which holds no duplicates.
Buckets are aligned to Shanghai midnight as on the volume page.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clickhouse_driver import Client

from dashboards.filters import VolumeFilter
from dashboards.queries.volume import SHANGHAI_OFFSET_S
from dashboards.service_names import STATIC, ServiceNames
from schemas.contacts import RECONTACT_WINDOW_MS
from schemas.envelope import CHANNELS

#: The mix is a share, which small buckets turn into noise: never finer than an hour.
MIX_MIN_BUCKET_S = 3600
#: Re-contact within this long after a contact's first event means it did not resolve.
RECONTACT_WINDOW = timedelta(milliseconds=RECONTACT_WINDOW_MS)

LAST_SEEN = """
SELECT max(minute), count() FROM events_per_minute
WHERE channel IN %(channels)s
"""

MIX = """
SELECT intDiv(toUInt32(minute) + %(offset)s, %(bucket)s) * %(bucket)s - %(offset)s AS bucket,
       channel,
       sum(opened) AS contacts
FROM contacts_per_minute
WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s)
GROUP BY bucket, channel
"""

#: What was done, by channel: the item, service, function or agent topic of each event.
SELF_SERVICE = """
SELECT channel, name, sum(done) AS n
FROM self_service_per_minute
WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s)
GROUP BY channel, name
"""

RECONTACTS = """
SELECT channel, sum(sessions) AS contacts, sum(recontacted) AS recontacted
FROM contacts_per_minute
WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s)
GROUP BY channel
"""


@dataclass(frozen=True)
class Mix:
    """Contacts per chart bucket per channel (gaps are zero), by each contact's first event."""

    bucket_seconds: int
    buckets: list[datetime]
    contacts: dict[str, list[int]]


@dataclass(frozen=True)
class Recontacts:
    """Contacts that began on a channel, and how many were followed by another within 24 h."""

    contacts: int
    recontacted: int

    @property
    def resolved_share(self) -> float | None:
        return 1 - self.recontacted / self.contacts if self.contacts else None


def last_seen(client: Client, *channels: str) -> datetime | None:
    """The newest minute with any event of ``channels``; ``None`` when they have none at all."""
    [(newest, rows)] = client.execute(LAST_SEEN, {"channels": channels})
    if not rows:
        return None
    # clickhouse-driver returns naive datetimes for DateTime('UTC') columns: they are UTC.
    return newest.replace(tzinfo=UTC) if newest.tzinfo is None else newest.astimezone(UTC)


def mix(client: Client, f: VolumeFilter) -> Mix:
    """Contacts per bucket of the filter's size, or an hour if that is finer."""
    size = max(f.bucket_seconds, MIX_MIN_BUCKET_S)
    params = {**_range(f.start, f.end), "bucket": size, "offset": SHANGHAI_OFFSET_S}
    first = (int(f.start.timestamp()) + SHANGHAI_OFFSET_S) // size * size - SHANGHAI_OFFSET_S
    starts = range(first, int(f.end.timestamp()), size)
    buckets = [datetime.fromtimestamp(s, UTC) for s in starts]
    index = {s: i for i, s in enumerate(starts)}
    contacts = {channel: [0] * len(buckets) for channel in CHANNELS}
    for start_s, channel, n in client.execute(MIX, params):
        contacts.setdefault(channel, [0] * len(buckets))[index[start_s]] += int(n)
    return Mix(size, buckets, contacts)


def deflection(
    client: Client, start: datetime, end: datetime, names: ServiceNames = STATIC
) -> dict[str, dict[str, int]]:
    """Item → channel → times done: successful self-service uses, and agents' handled requests.

    Each name counts for the item it stands for by ``names`` (the live catalogue's, on the
    page): a function several items share (``sp.query_unsubscribe``) for the first the
    guidance lists. Items are those ``names`` gives a self-service way now, plus any a
    self-service channel completed in the range; agents' requests on other topics are left
    out.
    """
    done: dict[str, dict[str, int]] = {}
    for channel, name, n in client.execute(SELF_SERVICE, _range(start, end)):
        item = names.item_of(channel, name)
        if item is not None:
            per_channel = done.setdefault(item, {})
            per_channel[channel] = per_channel.get(channel, 0) + int(n)
    return {
        item: per_channel
        for item, per_channel in done.items()
        if names.way(item).exists or set(per_channel) - {"agent"}
    }


def recontacts(client: Client, start: datetime, end: datetime) -> dict[str, Recontacts]:
    """Per channel of a contact's first event, every channel present (zero when none)."""
    found = {channel: Recontacts(0, 0) for channel in CHANNELS if channel != "agent"}
    for channel, contacts, again in client.execute(RECONTACTS, _range(start, end)):
        found[channel] = Recontacts(int(contacts), int(again))
    return found


def _range(start: datetime, end: datetime) -> dict[str, int]:
    return {"start": int(start.timestamp()), "end": int(end.timestamp())}
